"""One training step of bert_flax.train equals bert_torch.train's step (same weights through the schema, same
batch, dropout off): the loss, the gradient norm and every updated weight to 1e-4, for all four tasks."""

import numpy as np
import pytest

from bert_core import BertConfig
from bert_core.training import TrainingConfig
from tests.conftest import require, tiny_config_dict
from tests.flax.test_train_sharding import pretraining_arrays

torch = require("torch")


def task_arrays(task: str, n: int = 8, seq: int = 12) -> dict[str, np.ndarray]:
    arrays = pretraining_arrays(n=n, seq=seq)
    rng = np.random.default_rng(3)
    inputs = {k: arrays[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    if task == "pretraining":
        return arrays
    if task == "sequence-classification":
        return {**inputs, "labels": rng.integers(0, 3, size=n)}
    if task == "token-classification":
        labels = rng.integers(0, 3, size=(n, seq))
        labels[:, -2:] = -100
        return {**inputs, "labels": labels}
    return {**inputs, "start_positions": rng.integers(0, seq, size=n), "end_positions": rng.integers(0, seq, size=n)}


@pytest.mark.parametrize("task", ["pretraining", pytest.param("sequence-classification", marks=pytest.mark.slow),
                                  pytest.param("token-classification", marks=pytest.mark.slow), "question-answering"])
def test_one_step_equals_bert_torch(task, tmp_path):
    from bert_flax import train as flax_train
    from bert_torch import train as torch_train

    config = TrainingConfig(task=task, total_steps=1, batch_size=8, warmup_steps=0, learning_rate=1e-3,
                            weight_decay=0.1, max_grad_norm=0.2, log_every=1, output_dir=str(tmp_path))
    bert = BertConfig(**tiny_config_dict())
    arrays = task_arrays(task)
    pt = torch_train.build_model(config, model_config=bert)
    fx = flax_train.build_model(config, model_config=bert)
    fx.load_schema_state_dict(pt.schema_state_dict())

    module = torch_train.training_module(pt, config)
    module.train()
    optimizer = torch_train.build_optimizer(module, config)
    scheduler = torch_train.build_scheduler(optimizer, config)
    loss, norm = torch_train.train_step(module, optimizer, scheduler, [arrays], config, torch.device("cpu"))
    result = flax_train.train(fx, iter([arrays]), config, progress=False, save=False)

    assert result.losses[0] == pytest.approx(float(loss), abs=1e-4)
    assert result.grad_norms[0] == pytest.approx(float(norm), rel=1e-4)
    assert float(norm) > config.max_grad_norm  # clipping is exercised
    want, got = pt.schema_state_dict(), fx.schema_state_dict()
    assert sorted(want) == sorted(got)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, atol=1e-4, rtol=0, err_msg=name)
