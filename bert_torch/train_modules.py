"""What the trainer wraps around a model: `PretrainingLoss` (MLM head at labelled positions only),
``training_module`` (picks the module to train) and ``unwrap`` (back to the bert_torch model)."""

from __future__ import annotations

from torch import nn

from bert_core.training import TrainingConfig
from bert_torch.distributed import unwrap as _unwrap_ddp


class PretrainingLoss(nn.Module):
    """``BertForPreTraining``'s loss with the MLM head run only at labelled positions.

    The value and the gradients equal the model's own ``loss`` (MLM cross entropy over labelled tokens + NSP), but
    the vocabulary projection (``hidden x vocab`` per token, a fifth of BERT-base's FLOPs at sequence 128) runs
    on the ~15% of tokens that are predicted. The trainer wraps this module (DDP / FSDP2 see it as the root), so
    its parameters are the model's, under the prefix ``model.``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None,
                next_sentence_label=None, return_dict=True, **kwargs):
        from bert_core.outputs import BertForPreTrainingOutput
        from bert_torch import losses

        m = self.model
        out = m.bert(input_ids, attention_mask, token_type_ids, return_dict=True, **kwargs)
        hidden = out.last_hidden_state
        flat = labels.reshape(-1)
        picked = (flat != losses.IGNORE_INDEX).nonzero().squeeze(-1)
        mlm = m.cls.predictions(hidden.reshape(-1, hidden.shape[-1]).index_select(0, picked))
        nsp = m.cls.seq_relationship(out.pooler_output)
        loss = losses.pretraining_loss(mlm, nsp, flat.index_select(0, picked), next_sentence_label,
                                       m.config.vocab_size)
        return BertForPreTrainingOutput(loss=loss, prediction_logits=None, seq_relationship_logits=nsp)


def training_module(model: nn.Module, config: TrainingConfig, sparse_mlm: bool = True) -> nn.Module:
    """What the trainer runs: ``PretrainingLoss(model)`` for pre-training (unless ``sparse_mlm`` is False), else
    the model itself."""
    if config.task == "pretraining" and sparse_mlm and not isinstance(model, PretrainingLoss):
        return PretrainingLoss(model)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The bert_torch model inside DDP and ``PretrainingLoss`` wrappers."""
    model = _unwrap_ddp(model)
    return model.model if isinstance(model, PretrainingLoss) else model
