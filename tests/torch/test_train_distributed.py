"""Two CPU processes (gloo) train like one: DDP and FSDP2 on a tiny BertForPreTraining match a single process
with the same global batch (losses, gradient norms and final weights), and ranks see disjoint rows."""

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import conversion
from tests.torch.train_helpers import pretraining_arrays, run_training

STRATEGIES = ("ddp", "fsdp")
pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")


def _worker(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=world)
    try:
        from bert_torch.distributed import setup_distributed

        info = setup_distributed(device="cpu")
        assert (info.rank, info.world_size) == (rank, world)
        for strategy in STRATEGIES:
            result, _ = run_training("pretraining", pretraining_arrays(), os.path.join(tmp, strategy),
                                     strategy=strategy, info=info, save_every=2)
            np.save(os.path.join(tmp, f"{strategy}-{rank}.npy"), np.array([result.losses, result.grad_norms]))
        # resume each run's step-2 checkpoint under the other strategy (the optimizer state is saved gathered)
        for strategy, other in zip(STRATEGIES, reversed(STRATEGIES)):
            run_training("pretraining", pretraining_arrays(), os.path.join(tmp, f"resumed-{strategy}"),
                         strategy=strategy, info=info, resume_from=os.path.join(tmp, other, "checkpoint-2"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("dist"))
    mp.spawn(_worker, args=(2, tmp), nprocs=2, join=True)
    single, single_sd = run_training("pretraining", pretraining_arrays(), os.path.join(tmp, "single"))
    return tmp, single, single_sd


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_two_processes_match_one(runs, strategy):
    tmp, single, single_sd = runs
    for rank in range(2):
        losses, norms = np.load(os.path.join(tmp, f"{strategy}-{rank}.npy"))
        np.testing.assert_allclose(losses, single.losses, atol=1e-5)
        np.testing.assert_allclose(norms, single.grad_norms, rtol=1e-5)
    got = conversion.load_state_dict(os.path.join(tmp, strategy))
    assert sorted(got) == sorted(single_sd)
    for name, want in single_sd.items():
        np.testing.assert_allclose(got[name], want, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_resume_across_strategies(runs, strategy):
    tmp, _, single_sd = runs
    got = conversion.load_state_dict(os.path.join(tmp, f"resumed-{strategy}"))
    for name, want in single_sd.items():
        np.testing.assert_allclose(got[name], want, atol=1e-5, err_msg=name)


def test_training_moved_the_weights(runs):
    from bert_core import BertConfig
    from bert_core.training import TrainingConfig
    from bert_torch.train import build_model
    from tests.conftest import tiny_config_dict

    _, _, single_sd = runs
    initial = build_model(TrainingConfig(), model_config=BertConfig(**tiny_config_dict())).schema_state_dict()
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert np.abs(single_sd[name] - initial[name]).max() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_torchrun_cli(tmp_path, strategy):
    """``torchrun --nproc-per-node=2 -m bertzoo.cli train`` on CPUs (gloo) writes a loadable model."""
    import json
    import subprocess
    import sys

    from tests.conftest import tiny_config_dict

    np.savez(tmp_path / "train.npz", **{k: v for k, v in pretraining_arrays(n=8).items()})
    (tmp_path / "config.json").write_text(json.dumps(tiny_config_dict()))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
           "bertzoo.cli", "train", "--framework", "pt", "--strategy", strategy, "--task", "pretraining",
           "--config", str(tmp_path / "config.json"), "--train-files", str(tmp_path / "train.npz"),
           "--output-dir", str(tmp_path / "out"), "--steps", "2", "--batch-size", "4", "--no-progress",
           "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "trained 2 steps" in result.stdout
    from bert_torch import BertForPreTraining
    assert BertForPreTraining.from_pretrained(tmp_path / "out").weights_tied()
