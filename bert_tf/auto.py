"""transformers v4's TFAutoModel* classes for bert_tf (see ``bert_core.auto``).

``TFAutoModelForMaskedLM.from_pretrained(path)`` builds ``TFBertForMaskedLM``; each class is one row of the head
table. ``AutoConfig`` and ``AutoTokenizer`` are re-exported.
"""

from bert_core.auto import AutoConfig, AutoTokenizer, auto_model_classes
from bert_tf.modeling import MODEL_CLASSES

AUTO_CLASSES: dict[str, type] = auto_model_classes(MODEL_CLASSES, prefix="TF", module=__name__)
TFAutoModel = AUTO_CLASSES["TFAutoModel"]
TFAutoModelForPreTraining = AUTO_CLASSES["TFAutoModelForPreTraining"]
TFAutoModelForCausalLM = AUTO_CLASSES["TFAutoModelForCausalLM"]
TFAutoModelForMaskedLM = AUTO_CLASSES["TFAutoModelForMaskedLM"]
TFAutoModelForNextSentencePrediction = AUTO_CLASSES["TFAutoModelForNextSentencePrediction"]
TFAutoModelForSequenceClassification = AUTO_CLASSES["TFAutoModelForSequenceClassification"]
TFAutoModelForMultipleChoice = AUTO_CLASSES["TFAutoModelForMultipleChoice"]
TFAutoModelForTokenClassification = AUTO_CLASSES["TFAutoModelForTokenClassification"]
TFAutoModelForQuestionAnswering = AUTO_CLASSES["TFAutoModelForQuestionAnswering"]

__all__ = ["AutoConfig", "AutoTokenizer", "AUTO_CLASSES", *AUTO_CLASSES]
