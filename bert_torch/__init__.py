"""BERT in PyTorch with transformers v4's class names, arguments, outputs and state_dict names.

Imports torch only (never TensorFlow, JAX or transformers). ``MODEL_CLASSES`` maps each head name
(``bert_core.HEADS``) to its class.
"""

from bert_torch.modeling import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertLMHeadModel,
    BertModel,
)
from bert_torch.pretrained import BertPreTrainedModel

MODEL_CLASSES: dict[str, type[BertPreTrainedModel]] = {
    cls.__name__: cls for cls in (
        BertModel, BertForPreTraining, BertLMHeadModel, BertForMaskedLM, BertForNextSentencePrediction,
        BertForSequenceClassification, BertForMultipleChoice, BertForTokenClassification, BertForQuestionAnswering)
}

__all__ = ["MODEL_CLASSES", "BertPreTrainedModel", *MODEL_CLASSES]
