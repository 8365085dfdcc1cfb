"""bert_flax: BERT in Flax (Linen modules, transformers-v4-style ``FlaxBert*`` wrappers), on current JAX/Flax.

``MODEL_CLASSES`` maps each PyTorch head name (``"BertForMaskedLM"``) to its Flax class. Imports jax and flax
only (never torch, TensorFlow or transformers).
"""

from bert_flax.modeling import (
    MODEL_CLASSES,
    FlaxBertForCausalLM,
    FlaxBertForMaskedLM,
    FlaxBertForMultipleChoice,
    FlaxBertForNextSentencePrediction,
    FlaxBertForPreTraining,
    FlaxBertForQuestionAnswering,
    FlaxBertForSequenceClassification,
    FlaxBertForTokenClassification,
    FlaxBertModel,
)
from bert_flax.partitioning import DEFAULT_RULES, get_partition_rules
from bert_flax.wrapper import FlaxBertPreTrainedModel

__all__ = [
    "MODEL_CLASSES", "FlaxBertPreTrainedModel", "FlaxBertModel", "FlaxBertForPreTraining", "FlaxBertForCausalLM",
    "FlaxBertForMaskedLM", "FlaxBertForNextSentencePrediction", "FlaxBertForSequenceClassification",
    "FlaxBertForMultipleChoice", "FlaxBertForTokenClassification", "FlaxBertForQuestionAnswering",
    "DEFAULT_RULES", "get_partition_rules",
]
