"""BERT in PyTorch with transformers v4's class names, arguments, outputs and state_dict names.

Imports torch only (never TensorFlow, JAX or transformers). ``MODEL_CLASSES`` maps each head name
(``bert_core.HEADS``) to its class.
"""

from bert_torch.modeling import (
    MODEL_CLASSES,
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
from bert_torch.auto import (  # noqa: E402  transformers' Auto classes, after the models they build
    AUTO_CLASSES,
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

__all__ = ["MODEL_CLASSES", "BertPreTrainedModel", *MODEL_CLASSES, "AutoConfig", "AutoTokenizer", *AUTO_CLASSES]
