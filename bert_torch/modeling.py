"""`BertModel` and the eight head classes, with transformers v4's names, arguments and outputs.

The classes live in files split by role; this module gathers them (``from bert_torch.modeling import X`` keeps
working):

* ``base_model.py``: `BertModel` and `HeadModel` (the base of every head),
* ``lm_models.py``: `BertForPreTraining`, `BertLMHeadModel` (with ``generate``), `BertForMaskedLM`,
* ``task_models.py``: `BertForNextSentencePrediction`, `BertForSequenceClassification`,
  `BertForMultipleChoice`, `BertForTokenClassification`, `BertForQuestionAnswering`,
* ``masks.py`` (attention masks), ``model_api.py`` (transformers' model-class API), ``generation.py``.
"""

from bert_torch.base_model import BertModel, HeadModel
from bert_torch.lm_models import BertForMaskedLM, BertForPreTraining, BertLMHeadModel
from bert_torch.task_models import (
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)

MODEL_CLASSES: dict[str, type[HeadModel] | type[BertModel]] = {
    cls.__name__: cls for cls in (
        BertModel, BertForPreTraining, BertLMHeadModel, BertForMaskedLM, BertForNextSentencePrediction,
        BertForSequenceClassification, BertForMultipleChoice, BertForTokenClassification, BertForQuestionAnswering)
}

__all__ = ["MODEL_CLASSES", "BertModel", "HeadModel", "BertForPreTraining", "BertLMHeadModel", "BertForMaskedLM",
           "BertForNextSentencePrediction", "BertForSequenceClassification", "BertForMultipleChoice",
           "BertForTokenClassification", "BertForQuestionAnswering"]
