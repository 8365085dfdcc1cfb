"""bert_flax.train on a mesh of 8 virtual CPU devices (data parallel, tensor parallel, both; scan + remat) gives
the losses and updated parameters of one unsharded device to 1e-5.

The check runs in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (the flag must be set
before JAX starts, and must not leak into the other tests of this pytest process): ``python -m
tests.flax.test_train_sharding``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESHES = (("data=8", {}), ("data=2,model=4", {}), ("data=4,model=2", dict(scan_layers=True, remat=True)))


def pretraining_arrays(n: int = 16, seq: int = 12, vocab: int = 96, seed: int = 0) -> dict[str, np.ndarray]:
    """Random MLM + NSP examples (some padding, a third of the positions labelled)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, size=(n, seq))
    mask = np.ones((n, seq), np.int64)
    mask[::3, -4:] = 0
    types = np.zeros_like(ids)
    types[:, seq // 2:] = 1
    labels = np.where(rng.random((n, seq)) < 0.3, rng.integers(5, vocab, size=(n, seq)), -100)
    labels[:, 0] = 7
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels,
            "next_sentence_label": rng.integers(0, 2, size=n)}


def run(mesh_spec: str | None, devices=None, steps: int = 2, **model_options):
    """Train the tiny pre-training model ``steps`` steps; (losses, schema state dict)."""
    import jax

    from bert_core import BertConfig
    from bert_core.training import TrainingConfig, array_batches
    from bert_flax.mesh import build_mesh
    from bert_flax.train import build_model, train
    from tests.conftest import tiny_config_dict

    config = TrainingConfig(task="pretraining", total_steps=steps, batch_size=16, gradient_accumulation_steps=2,
                            warmup_steps=0, learning_rate=1e-2, weight_decay=0.1, max_grad_norm=0.5, log_every=1)
    bert = BertConfig(**tiny_config_dict(vocab_size=96, intermediate_size=64))
    model = build_model(config, model_config=bert, **model_options)
    if model_options:  # scanned parameters are drawn in another order: start from the plain model's weights
        model.load_schema_state_dict(build_model(config, model_config=bert).schema_state_dict())
    mesh = build_mesh(mesh_spec, devices=devices)
    result = train(model, array_batches(pretraining_arrays(), config, shuffle=False), config, progress=False,
                   save=False, mesh=mesh)
    state = model.schema_state_dict()
    assert jax.tree_util.tree_leaves(model.params)[0].dtype == np.float32
    return result.losses, state


def check() -> str:
    import jax
    from jax.sharding import PartitionSpec

    from bert_core import BertConfig
    from bert_core.training import TrainingConfig
    from bert_flax.mesh import build_mesh
    from bert_flax.train import build_model
    from bert_flax.train_state import build_optimizer, state_shardings
    from tests.conftest import tiny_config_dict

    jax.config.update("jax_default_matmul_precision", "highest")
    assert jax.device_count() >= 8, f"needs 8 devices, found {jax.device_count()}"
    # the optimizer moments are sharded like their parameters
    model = build_model(TrainingConfig(), model_config=BertConfig(**tiny_config_dict(vocab_size=96,
                                                                                     intermediate_size=64)))
    tx = build_optimizer(model.params, TrainingConfig())
    shardings = state_shardings(model, tx, build_mesh("data=2,model=4"))
    mu = shardings["opt_state"][1][0].mu
    kernel = ("bert", "encoder", "layer", "0", "intermediate", "dense", "kernel")
    get = lambda tree: tree[kernel[0]][kernel[1]][kernel[2]][kernel[3]][kernel[4]][kernel[5]][kernel[6]]  # noqa
    assert get(shardings["params"]).spec == get(mu).spec == PartitionSpec(None, "model")

    want_losses, want = run(None, devices=jax.devices()[:1])
    for spec, options in MESHES:
        losses, got = run(spec, **options)
        np.testing.assert_allclose(losses, want_losses, atol=1e-5, rtol=0, err_msg=spec)
        for name, value in want.items():
            np.testing.assert_allclose(got[name], value, atol=1e-5, rtol=0, err_msg=f"{spec}: {name}")
    return "sharded training equals one device"


def test_sharded_training_equals_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    result = subprocess.run([sys.executable, "-m", "tests.flax.test_train_sharding"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]


def test_mesh_shapes():
    import pytest

    from bert_flax.mesh import parse_mesh

    assert parse_mesh("data=4,model=2", 8) == {"data": 4, "model": 2}
    assert parse_mesh("model=2", 8) == {"data": 4, "model": 2}
    assert parse_mesh(None, 8) == {"data": 8, "model": 1}
    assert parse_mesh("data=-1,model=4", 8) == {"data": 2, "model": 4}
    for bad in ("data=3", "data=4,model=4", "pipeline=2", "data"):
        with pytest.raises(ValueError, match="mesh|axes"):
            parse_mesh(bad, 8)


if __name__ == "__main__":
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    print(check())
    sys.exit(0)
