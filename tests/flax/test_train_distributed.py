"""Two local processes joined by ``jax.distributed`` (coordinator on 127.0.0.1, gloo CPU collectives), two
virtual CPU devices each, on a ``data=2,model=2`` mesh that spans both: each process feeds its half of every
global batch (``jax.make_array_from_process_local_data``); the losses and the exported model equal one process.

Each worker is ``python -m tests.flax.test_train_distributed <process_id> <port> <output_dir>``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 3


def _config(output_dir: str):
    from bert_core.training import TrainingConfig

    return TrainingConfig(task="pretraining", total_steps=STEPS, batch_size=8, warmup_steps=0, learning_rate=1e-2,
                          weight_decay=0.1, max_grad_norm=0.5, log_every=1, save_every=2, output_dir=output_dir)


def _train(output_dir: str, mesh, save: bool):
    from bert_core import BertConfig
    from bert_core.training import array_batches
    from bert_flax.train import build_model, train
    from tests.conftest import tiny_config_dict
    from tests.flax.test_train_sharding import pretraining_arrays

    config = _config(output_dir)
    model = build_model(config, model_config=BertConfig(**tiny_config_dict(vocab_size=96, intermediate_size=64)))
    return train(model, array_batches(pretraining_arrays(n=8), config, shuffle=False), config, progress=False,
                 save=save, mesh=mesh)


def worker(process_id: int, port: int, output_dir: str) -> None:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax

    from bert_flax.mesh import initialize_distributed

    initialize_distributed(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
    jax.config.update("jax_default_matmul_precision", "highest")
    assert jax.process_count() == 2 and jax.device_count() == 4 and jax.local_device_count() == 2
    result = _train(output_dir, "data=2,model=2", save=True)
    if process_id == 0:
        with open(os.path.join(output_dir, "losses.json"), "w") as f:
            json.dump(result.losses, f)
    jax.distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    import jax

    import conversion

    jax.config.update("jax_default_matmul_precision", "highest")
    port, out = _free_port(), str(tmp_path / "two")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.flax.test_train_distributed", str(i), str(port), out],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            p.kill()
            logs.append(p.communicate()[0])
    assert all(p.returncode == 0 for p in procs), "\n---\n".join(x[-4000:] for x in logs)

    from bert_flax.mesh import build_mesh

    one = _train(str(tmp_path / "one"), build_mesh(None, devices=jax.devices()[:1]), save=True)
    two_losses = json.load(open(os.path.join(out, "losses.json")))
    np.testing.assert_allclose(two_losses, one.losses, atol=1e-5, rtol=0)
    a, b = conversion.load_state_dict(out), conversion.load_state_dict(str(tmp_path / "one"))
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5, rtol=0, err_msg=name)
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["2", "3"]


if __name__ == "__main__":
    worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
