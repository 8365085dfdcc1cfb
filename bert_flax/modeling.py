"""``FlaxBertModel`` and the eight head classes (transformers v4's Flax names and call signatures).

Each holds ``params`` and is called as ``model(input_ids, attention_mask=None, ..., params=None,
dropout_rng=None, train=False, ...)``; give labels to get ``loss`` (transformers' / bert_torch's semantics).
"""

from __future__ import annotations

import numpy as np

from bert_core import outputs as O
from bert_core.heads import infer_problem_type
from bert_flax import losses
from bert_flax import modules as M
from bert_flax.wrapper import FlaxBertPreTrainedModel


class FlaxBertModel(FlaxBertPreTrainedModel):
    """The bare encoder: ``last_hidden_state`` and ``pooler_output``. Parameters sit at the top of the tree."""

    module_class = M.BertModule
    output_class = O.BaseModelOutputWithPoolingAndCrossAttentions
    head = "BertModel"

    def __init__(self, config, *args, add_pooling_layer: bool = True, **kwargs):
        super().__init__(config, *args, add_pooling_layer=add_pooling_layer, **kwargs)


class FlaxBertForPreTraining(FlaxBertPreTrainedModel):
    """MLM + next sentence prediction. Loss with ``labels`` and ``next_sentence_label``: their sum."""

    module_class = M.BertForPreTrainingModule
    output_class = O.BertForPreTrainingOutput
    head = "BertForPreTraining"
    label_names = ("labels", "next_sentence_label")

    def _loss(self, out, labels, info):
        if "labels" in labels and "next_sentence_label" in labels:
            return losses.pretraining_loss(out["prediction_logits"], out["seq_relationship_logits"],
                                           labels["labels"], labels["next_sentence_label"])
        return None


class FlaxBertForCausalLM(FlaxBertPreTrainedModel):
    """Decoder LM (``BertLMHeadModel``); ``init_cache`` + ``past_key_values`` decode step by step."""

    module_class = M.BertForCausalLMModule
    output_class = O.CausalLMOutputWithCrossAttentions
    head = "BertLMHeadModel"
    label_names = ("labels",)

    def _loss(self, out, labels, info):
        return losses.causal_lm_loss(out["logits"], labels["labels"])

    def prepare_inputs_for_generation(self, input_ids, max_length: int, attention_mask=None) -> dict:
        """transformers' Flax generation hook: an empty cache, the mask over it, positions (left padding aware)."""
        batch, seq = input_ids.shape
        extended = np.ones((batch, max_length), np.int32)
        if attention_mask is not None:
            mask = np.asarray(attention_mask, np.int32)
            extended[:, :seq] = mask
            position_ids = np.maximum(np.cumsum(mask, axis=-1) - 1, 0)
        else:
            position_ids = np.broadcast_to(np.arange(seq, dtype=np.int32), (batch, seq))
        return {"past_key_values": self.init_cache(batch, max_length), "attention_mask": extended,
                "position_ids": position_ids}

    def update_inputs_for_generation(self, model_outputs, model_kwargs: dict) -> dict:
        """After a step: the new cache, and the next token's position."""
        model_kwargs["past_key_values"] = model_outputs.past_key_values
        model_kwargs["position_ids"] = np.asarray(model_kwargs["position_ids"])[:, -1:] + 1
        return model_kwargs


class FlaxBertForMaskedLM(FlaxBertPreTrainedModel):
    module_class = M.BertForMaskedLMModule
    output_class = O.MaskedLMOutput
    head = "BertForMaskedLM"
    label_names = ("labels",)

    def _loss(self, out, labels, info):
        return losses.masked_lm_loss(out["logits"], labels["labels"])


class FlaxBertForNextSentencePrediction(FlaxBertPreTrainedModel):
    module_class = M.BertForNextSentencePredictionModule
    output_class = O.NextSentencePredictorOutput
    head = "BertForNextSentencePrediction"
    label_names = ("labels",)

    def _loss(self, out, labels, info):
        return losses.cross_entropy(out["logits"], labels["labels"])


class FlaxBertForSequenceClassification(FlaxBertPreTrainedModel):
    """Loss by ``config.problem_type``, or inferred: regression (1 label), single- or multi-label."""

    module_class = M.BertForSequenceClassificationModule
    output_class = O.SequenceClassifierOutput
    head = "BertForSequenceClassification"
    label_names = ("labels",)

    def _static_loss_info(self, labels):
        if "labels" not in labels:
            return ()
        integer = np.issubdtype(np.dtype(labels["labels"].dtype), np.integer)
        return (infer_problem_type(self.config.problem_type, self.config.num_labels, integer),)

    def _loss(self, out, labels, info):
        return losses.sequence_classification_loss(out["logits"], labels["labels"], info[0], self.config.num_labels)


class FlaxBertForMultipleChoice(FlaxBertPreTrainedModel):
    """Inputs ``[batch, num_choices, seq]``; logits ``[batch, num_choices]``."""

    module_class = M.BertForMultipleChoiceModule
    output_class = O.MultipleChoiceModelOutput
    head = "BertForMultipleChoice"
    label_names = ("labels",)

    def _loss(self, out, labels, info):
        return losses.cross_entropy(out["logits"], labels["labels"])


class FlaxBertForTokenClassification(FlaxBertPreTrainedModel):
    module_class = M.BertForTokenClassificationModule
    output_class = O.TokenClassifierOutput
    head = "BertForTokenClassification"
    label_names = ("labels",)

    def _loss(self, out, labels, info):
        return losses.cross_entropy(out["logits"], labels["labels"])


class FlaxBertForQuestionAnswering(FlaxBertPreTrainedModel):
    """Loss with ``start_positions`` and ``end_positions`` (clamped to the sequence, then ignored)."""

    module_class = M.BertForQuestionAnsweringModule
    output_class = O.QuestionAnsweringModelOutput
    head = "BertForQuestionAnswering"
    label_names = ("start_positions", "end_positions")

    def __call__(self, *args, **kwargs):
        if self.config.num_labels != 2:
            raise ValueError(f"FlaxBertForQuestionAnswering predicts a start and an end logit: it needs num_labels=2, "
                             f"the config has num_labels={self.config.num_labels}.")
        return super().__call__(*args, **kwargs)

    def _loss(self, out, labels, info):
        if "start_positions" in labels and "end_positions" in labels:
            return losses.question_answering_loss(out["start_logits"], out["end_logits"], labels["start_positions"],
                                                  labels["end_positions"])
        return None


MODEL_CLASSES: dict[str, type[FlaxBertPreTrainedModel]] = {
    cls.head: cls for cls in (
        FlaxBertModel, FlaxBertForPreTraining, FlaxBertForCausalLM, FlaxBertForMaskedLM,
        FlaxBertForNextSentencePrediction, FlaxBertForSequenceClassification, FlaxBertForMultipleChoice,
        FlaxBertForTokenClassification, FlaxBertForQuestionAnswering)
}
