"""transformers v4's AutoModel* classes for bert_torch (see ``bert_core.auto``).

``AutoModelForMaskedLM.from_pretrained(path)`` builds ``BertForMaskedLM``; each class is one row of the head
table. ``AutoConfig`` and ``AutoTokenizer`` are re-exported.
"""

from bert_core.auto import AutoConfig, AutoTokenizer, auto_model_classes
from bert_torch.modeling import MODEL_CLASSES

AUTO_CLASSES: dict[str, type] = auto_model_classes(MODEL_CLASSES, prefix="", module=__name__)
AutoModel = AUTO_CLASSES["AutoModel"]
AutoModelForPreTraining = AUTO_CLASSES["AutoModelForPreTraining"]
AutoModelForCausalLM = AUTO_CLASSES["AutoModelForCausalLM"]
AutoModelForMaskedLM = AUTO_CLASSES["AutoModelForMaskedLM"]
AutoModelForNextSentencePrediction = AUTO_CLASSES["AutoModelForNextSentencePrediction"]
AutoModelForSequenceClassification = AUTO_CLASSES["AutoModelForSequenceClassification"]
AutoModelForMultipleChoice = AUTO_CLASSES["AutoModelForMultipleChoice"]
AutoModelForTokenClassification = AUTO_CLASSES["AutoModelForTokenClassification"]
AutoModelForQuestionAnswering = AUTO_CLASSES["AutoModelForQuestionAnswering"]

__all__ = ["AutoConfig", "AutoTokenizer", "AUTO_CLASSES", *AUTO_CLASSES]
