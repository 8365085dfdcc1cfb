"""bert_flax: BERT in Flax (Linen modules, transformers-v4-style ``FlaxBert*`` wrappers), on current JAX/Flax.

``MODEL_CLASSES`` maps each PyTorch head name (``"BertForMaskedLM"``) to its Flax class; the Linen modules
(``FlaxBertModule``, ...) and output classes (``FlaxMaskedLMOutput``, ..., JAX pytrees) carry v4's names too. Imports jax and flax
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
from bert_flax.modules import (
    FlaxBertForCausalLMModule,
    FlaxBertForMaskedLMModule,
    FlaxBertForMultipleChoiceModule,
    FlaxBertForNextSentencePredictionModule,
    FlaxBertForPreTrainingModule,
    FlaxBertForQuestionAnsweringModule,
    FlaxBertForSequenceClassificationModule,
    FlaxBertForTokenClassificationModule,
    FlaxBertModule,
)
from bert_flax.outputs import (
    FlaxBaseModelOutputWithPoolingAndCrossAttentions,
    FlaxBertForPreTrainingOutput,
    FlaxCausalLMOutputWithCrossAttentions,
    FlaxGreedySearchOutput,
    FlaxMaskedLMOutput,
    FlaxMultipleChoiceModelOutput,
    FlaxNextSentencePredictorOutput,
    FlaxQuestionAnsweringModelOutput,
    FlaxSampleOutput,
    FlaxSequenceClassifierOutput,
    FlaxTokenClassifierOutput,
)
from bert_flax.partitioning import DEFAULT_RULES, get_partition_rules
from bert_flax.wrapper import FlaxBertPreTrainedModel
from bert_flax.auto import (  # noqa: E402  transformers' Auto classes, after the models they build
    AUTO_CLASSES,
    AutoConfig,
    AutoTokenizer,
    FlaxAutoModel,
    FlaxAutoModelForCausalLM,
    FlaxAutoModelForMaskedLM,
    FlaxAutoModelForMultipleChoice,
    FlaxAutoModelForNextSentencePrediction,
    FlaxAutoModelForPreTraining,
    FlaxAutoModelForQuestionAnswering,
    FlaxAutoModelForSequenceClassification,
    FlaxAutoModelForTokenClassification,
)

__all__ = [
    "MODEL_CLASSES", "FlaxBertPreTrainedModel", "FlaxBertModel", "FlaxBertForPreTraining", "FlaxBertForCausalLM",
    "FlaxBertForMaskedLM", "FlaxBertForNextSentencePrediction", "FlaxBertForSequenceClassification",
    "FlaxBertForMultipleChoice", "FlaxBertForTokenClassification", "FlaxBertForQuestionAnswering",
    "FlaxBertModule", "FlaxBertForPreTrainingModule", "FlaxBertForCausalLMModule", "FlaxBertForMaskedLMModule",
    "FlaxBertForNextSentencePredictionModule", "FlaxBertForSequenceClassificationModule",
    "FlaxBertForMultipleChoiceModule", "FlaxBertForTokenClassificationModule", "FlaxBertForQuestionAnsweringModule",
    "FlaxBaseModelOutputWithPoolingAndCrossAttentions", "FlaxBertForPreTrainingOutput",
    "FlaxCausalLMOutputWithCrossAttentions", "FlaxMaskedLMOutput", "FlaxNextSentencePredictorOutput",
    "FlaxSequenceClassifierOutput", "FlaxMultipleChoiceModelOutput", "FlaxTokenClassifierOutput",
    "FlaxQuestionAnsweringModelOutput", "FlaxGreedySearchOutput", "FlaxSampleOutput",
    "DEFAULT_RULES", "get_partition_rules", "AutoConfig", "AutoTokenizer", *AUTO_CLASSES,
]
