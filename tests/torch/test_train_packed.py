"""Packed pre-training in bert_torch: a packed batch gives the loss and gradients of the same examples unpacked,
and ``train`` runs on packed batches (``bert_core.data.packing``)."""

import numpy as np
import pytest
import torch

from bert_core import BertConfig
from bert_core.data import batches, packed_batches
from bert_core.training import TrainingConfig
from bert_torch import BertForPreTraining
from bert_torch.train import train
from bert_torch.train_state import PretrainingLoss, to_tensors
from tests.conftest import tiny_config_dict
from tests.core.test_packing import random_examples


def _loss_and_grads(module, batch):
    module.zero_grad()
    loss = module(**to_tensors(batch, torch.device("cpu"))).loss
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}
    module.zero_grad()
    return float(loss.detach()), grads


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key_query"])
def test_packed_batch_equals_unpacked(position_embedding_type):
    examples = random_examples(n=10, seq=24)
    unpacked = next(batches(examples, len(examples)))
    packed = next(packed_batches(examples, 100, 24, drop_remainder=False))
    assert len(packed["input_ids"]) < len(examples)  # rows really hold several examples
    assert int((packed["next_sentence_label"] != -100).sum()) == len(examples)
    config = BertConfig(**tiny_config_dict(position_embedding_type=position_embedding_type))
    module = PretrainingLoss(BertForPreTraining(config, seed=0)).eval()
    want_loss, want = _loss_and_grads(module, unpacked)
    got_loss, got = _loss_and_grads(module, packed)
    assert got_loss == pytest.approx(want_loss, rel=1e-5)
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-4, msg=name)
    # the model's own loss on the unpacked batch agrees as well
    own = module.model(**to_tensors(unpacked, torch.device("cpu"))).loss
    assert float(own) == pytest.approx(want_loss, rel=1e-5)


def test_train_runs_on_packed_batches(tmp_path):
    examples = random_examples(n=60, seq=24, seed=1)
    config = TrainingConfig(total_steps=3, batch_size=4, max_seq_length=24, learning_rate=1e-3, log_every=1,
                            packing=True, output_dir=str(tmp_path))
    model = BertForPreTraining(BertConfig(**tiny_config_dict()), seed=0)
    result = train(model, packed_batches(examples, 4, 24), config, progress=False, save=False)
    assert result.steps == 3 and all(np.isfinite(result.losses))
