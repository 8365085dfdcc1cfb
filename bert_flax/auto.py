"""transformers v4's FlaxAutoModel* classes for bert_flax (see ``bert_core.auto``).

``FlaxAutoModelForMaskedLM.from_pretrained(path)`` builds ``FlaxBertForMaskedLM``; each class is one row of the head
table. ``AutoConfig`` and ``AutoTokenizer`` are re-exported.
"""

from bert_core.auto import AutoConfig, AutoTokenizer, auto_model_classes
from bert_flax.modeling import MODEL_CLASSES

AUTO_CLASSES: dict[str, type] = auto_model_classes(MODEL_CLASSES, prefix="Flax", module=__name__)
FlaxAutoModel = AUTO_CLASSES["FlaxAutoModel"]
FlaxAutoModelForPreTraining = AUTO_CLASSES["FlaxAutoModelForPreTraining"]
FlaxAutoModelForCausalLM = AUTO_CLASSES["FlaxAutoModelForCausalLM"]
FlaxAutoModelForMaskedLM = AUTO_CLASSES["FlaxAutoModelForMaskedLM"]
FlaxAutoModelForNextSentencePrediction = AUTO_CLASSES["FlaxAutoModelForNextSentencePrediction"]
FlaxAutoModelForSequenceClassification = AUTO_CLASSES["FlaxAutoModelForSequenceClassification"]
FlaxAutoModelForMultipleChoice = AUTO_CLASSES["FlaxAutoModelForMultipleChoice"]
FlaxAutoModelForTokenClassification = AUTO_CLASSES["FlaxAutoModelForTokenClassification"]
FlaxAutoModelForQuestionAnswering = AUTO_CLASSES["FlaxAutoModelForQuestionAnswering"]

__all__ = ["AutoConfig", "AutoTokenizer", "AUTO_CLASSES", *AUTO_CLASSES]
