"""``FlaxBertModel`` and the eight head classes (transformers v4's Flax names and call signatures).

Each holds ``params`` and is called as ``model(input_ids, attention_mask=None, ..., params=None,
dropout_rng=None, train=False, ...)``; give labels to get ``loss`` (transformers' / bert_torch's semantics).
"""

from __future__ import annotations

import numpy as np

from bert_core.heads import infer_problem_type
from bert_flax import losses
from bert_flax import modules as M
from bert_flax.generation import FlaxGenerationMixin
from bert_flax.wrapper import FlaxBertPreTrainedModel



class FlaxBertModel(FlaxBertPreTrainedModel):
    """The bare encoder: ``last_hidden_state`` and ``pooler_output``. Parameters sit at the top of the tree."""

    module_class = M.FlaxBertModule
    head = "BertModel"

    def __init__(self, config, *args, add_pooling_layer: bool = True, **kwargs):
        super().__init__(config, *args, add_pooling_layer=add_pooling_layer, **kwargs)


class FlaxBertForPreTraining(FlaxBertPreTrainedModel):
    """MLM + next sentence prediction. Loss with ``labels`` and ``next_sentence_label``: their sum."""

    module_class = M.FlaxBertForPreTrainingModule
    head = "BertForPreTraining"

    def _label_ranges(self, labels, input_shape, info):
        return {"labels": (self.config.vocab_size, f"config.vocab_size={self.config.vocab_size}"), "next_sentence_label": (2, "is-next or not")}

    def _loss(self, out, labels, info):
        if "labels" in labels and "next_sentence_label" in labels:
            return losses.pretraining_loss(out.prediction_logits, out.seq_relationship_logits,
                                           labels["labels"], labels["next_sentence_label"])
        return None


class FlaxBertForCausalLM(FlaxGenerationMixin, FlaxBertPreTrainedModel):
    """Decoder LM (``BertLMHeadModel``); ``init_cache`` + ``past_key_values`` decode step by step; ``generate()``."""

    module_class = M.FlaxBertForCausalLMModule
    head = "BertLMHeadModel"

    def _label_ranges(self, labels, input_shape, info):
        return {"labels": (self.config.vocab_size, f"config.vocab_size={self.config.vocab_size}")}

    def _loss(self, out, labels, info):
        return losses.causal_lm_loss(out.logits, labels["labels"])


class FlaxBertForMaskedLM(FlaxBertPreTrainedModel):
    module_class = M.FlaxBertForMaskedLMModule
    head = "BertForMaskedLM"

    def _label_ranges(self, labels, input_shape, info):
        return {"labels": (self.config.vocab_size, f"config.vocab_size={self.config.vocab_size}")}

    def _loss(self, out, labels, info):
        return losses.masked_lm_loss(out.logits, labels["labels"])


class FlaxBertForNextSentencePrediction(FlaxBertPreTrainedModel):
    module_class = M.FlaxBertForNextSentencePredictionModule
    head = "BertForNextSentencePrediction"

    def _label_ranges(self, labels, input_shape, info):
        return {"labels": (2, "is-next or not")}

    def _loss(self, out, labels, info):
        return losses.cross_entropy(out.logits, labels["labels"])


class FlaxBertForSequenceClassification(FlaxBertPreTrainedModel):
    """Loss by ``config.problem_type``, or inferred: regression (1 label), single- or multi-label."""

    module_class = M.FlaxBertForSequenceClassificationModule
    head = "BertForSequenceClassification"

    def _static_loss_info(self, labels):
        if "labels" not in labels:
            return ()
        integer = np.issubdtype(np.dtype(labels["labels"].dtype), np.integer)
        return (infer_problem_type(self.config.problem_type, self.config.num_labels, integer),)

    def _label_ranges(self, labels, input_shape, info):
        if info and info[0] == "single_label_classification":
            return {"labels": (self.config.num_labels, f"config.num_labels={self.config.num_labels}")}
        return {}

    def _loss(self, out, labels, info):
        return losses.sequence_classification_loss(out.logits, labels["labels"], self.config.num_labels, info[0])


class FlaxBertForMultipleChoice(FlaxBertPreTrainedModel):
    """Inputs ``[batch, num_choices, seq]``; logits ``[batch, num_choices]``."""

    module_class = M.FlaxBertForMultipleChoiceModule
    head = "BertForMultipleChoice"

    def _label_ranges(self, labels, input_shape, info):
        return {"labels": (input_shape[1], f"num_choices={input_shape[1]}, input_ids.shape[1]")}

    def _loss(self, out, labels, info):
        return losses.cross_entropy(out.logits, labels["labels"])


class FlaxBertForTokenClassification(FlaxBertPreTrainedModel):
    module_class = M.FlaxBertForTokenClassificationModule
    head = "BertForTokenClassification"

    def _label_ranges(self, labels, input_shape, info):
        return {"labels": (self.config.num_labels, f"config.num_labels={self.config.num_labels}")}

    def _loss(self, out, labels, info):
        return losses.cross_entropy(out.logits, labels["labels"])


class FlaxBertForQuestionAnswering(FlaxBertPreTrainedModel):
    """Loss with ``start_positions`` and ``end_positions`` (clamped to the sequence, then ignored)."""

    module_class = M.FlaxBertForQuestionAnsweringModule
    head = "BertForQuestionAnswering"

    def _check_config(self):
        if self.config.num_labels != 2:
            raise ValueError(f"FlaxBertForQuestionAnswering predicts a start and an end logit: it needs num_labels=2, "
                             f"the config has num_labels={self.config.num_labels}.")

    def _loss(self, out, labels, info):
        if "start_positions" in labels and "end_positions" in labels:
            return losses.question_answering_loss(out.start_logits, out.end_logits, labels["start_positions"],
                                                  labels["end_positions"])
        return None


MODEL_CLASSES: dict[str, type[FlaxBertPreTrainedModel]] = {
    cls.head: cls for cls in (
        FlaxBertModel, FlaxBertForPreTraining, FlaxBertForCausalLM, FlaxBertForMaskedLM,
        FlaxBertForNextSentencePrediction, FlaxBertForSequenceClassification, FlaxBertForMultipleChoice,
        FlaxBertForTokenClassification, FlaxBertForQuestionAnswering)
}
