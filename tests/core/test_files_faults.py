"""atomic_folder under fault injection: an OSError, or a real kill -9, at every step of the commit.

After each fault the folder must read (after ``check_folder``) as the complete old checkpoint or the complete new
one, with no leftovers; before ``check_folder`` it must already be old, new, or without ``config.json`` (so a
loader that skips the check fails loudly instead of loading a mix).
"""

import builtins
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

from bert_core.files import InterruptedWriteError, atomic_folder, check_folder

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The old checkpoint: weights in two formats, config, tokenizer (slow and fast), a SavedModel-style subfolder, a file
# that is not part of any group.
OLD = {"config.json": "old config", "model.safetensors": "old weights", "tf_model.h5": "old tf weights",
       "tokenizer_config.json": "old tokenizer config", "vocab.txt": "old vocab", "tokenizer.json": "old fast",
       "variables/data": "old variables", "README.md": "kept"}
# The write: sharded weights, config, slow tokenizer, the subfolder.
WRITE = {"config.json": "new config", "model-00001-of-00002.safetensors": "new shard 1",
         "model-00002-of-00002.safetensors": "new shard 2", "model.safetensors.index.json": "new index",
         "tokenizer_config.json": "new tokenizer config", "vocab.txt": "new vocab", "variables/data": "new variables",
         "variables/index": "new variables index"}
NEW = {**WRITE, "README.md": "kept"}


@pytest.fixture(autouse=True)
def no_disk_flush(monkeypatch):
    """fsync stays a step that can fail, without waiting for the disk (the protocol's order is what is tested)."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def write_tree(folder, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def snapshot(folder, visible_only: bool = False) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too, unless ``visible_only``) with its text; folders as "<dir>"."""
    out = {}
    for root, dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        if visible_only:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".")]
        for d in dirs:
            if not os.listdir(os.path.join(root, d)):
                out[os.path.normpath(os.path.join(rel, d))] = "<dir>"
        for f in files:
            with open(os.path.join(root, f)) as fh:
                out[os.path.normpath(os.path.join(rel, f))] = fh.read()
    return out


def assert_old_or_new(folder) -> str:
    raw = snapshot(folder, visible_only=True)
    assert raw in (OLD, NEW) or "config.json" not in raw, f"a mix with a config: {sorted(raw)}"
    check_folder(folder)
    state = snapshot(folder)
    assert state in (OLD, NEW), f"not the complete old or new files: {state}"
    return "old" if state == OLD else "new"


class Faults:
    """Wraps the file system calls a commit makes; counts them once armed, raises OSError at chosen steps."""

    TARGETS = ((os, "replace"), (os, "rename"), (os, "remove"), (os, "unlink"), (os, "rmdir"), (os, "mkdir"),
               (os, "open"), (os, "fsync"), (os, "listdir"), (os, "scandir"), (shutil, "rmtree"), (builtins, "open"))

    def __init__(self, fail_at: int | None = None, persistent: bool = False):
        self.fail_at, self.persistent, self.calls, self.saved = fail_at, persistent, 0, []

    def arm(self) -> None:
        for module, name in self.TARGETS:
            original = getattr(module, name)
            self.saved.append((module, name, original))
            setattr(module, name, self._wrap(original, name))

    def disarm(self) -> None:
        while self.saved:
            module, name, original = self.saved.pop()
            setattr(module, name, original)

    def _wrap(self, original, name):
        def wrapped(*args, **kwargs):
            self.calls += 1
            failing = self.fail_at is not None and self.calls >= self.fail_at
            if failing and (self.persistent or self.calls == self.fail_at):
                raise OSError(5, f"injected fault in {name} at step {self.calls}")
            return original(*args, **kwargs)
        return wrapped


def write_with(folder, faults: Faults) -> None:
    try:
        with atomic_folder(folder) as tmp:
            write_tree(tmp, WRITE)
            faults.arm()
    except (OSError, InterruptedWriteError):
        pass
    finally:
        faults.disarm()


def count_steps(tmp_path) -> int:
    write_tree(tmp_path / "count", OLD)
    faults = Faults()
    write_with(tmp_path / "count", faults)
    assert snapshot(tmp_path / "count") == NEW
    return faults.calls


@pytest.mark.parametrize("persistent", [False, True], ids=["one-fault", "every-call-from-step-k-fails"])
def test_a_fault_at_any_step_of_the_commit_leaves_old_or_new(tmp_path, persistent):
    steps = count_steps(tmp_path)
    assert steps > 20
    outcomes = set()
    for k in range(1, steps + 1):
        folder = tmp_path / f"k{k}"
        write_tree(folder, OLD)
        write_with(folder, Faults(fail_at=k, persistent=persistent))
        outcomes.add(assert_old_or_new(folder))
    assert outcomes == {"old", "new"}


def test_an_unfinishable_commit_raises_the_clear_error_and_completes_later(tmp_path, monkeypatch):
    folder = tmp_path / "m"
    write_tree(folder, OLD)
    faults = Faults(fail_at=31, persistent=True)  # the fsyncs and the journal pass; the moves fail for good
    try:
        with pytest.raises(InterruptedWriteError, match="interrupted while moving its files in") as e:
            with atomic_folder(folder) as tmp:
                write_tree(tmp, WRITE)
                faults.arm()
    finally:
        faults.disarm()
    assert "Rerun the command that wrote it" in str(e.value) and str(folder) in str(e.value)
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(PermissionError(13, "read-only")))
    with pytest.raises(InterruptedWriteError, match="Rerun the command"):
        check_folder(folder)
    monkeypatch.setattr(os, "replace", real_replace)
    check_folder(folder)
    assert snapshot(folder) == NEW


CHILD = r"""
import json, os, shutil, signal, sys, types
root, folder, write, kill_at = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
package = types.ModuleType("bert_core")  # only bert_core.files and its stdlib imports: a fast child
package.__path__ = [os.path.join(root, "bert_core")]
sys.modules["bert_core"] = package
from bert_core.files import atomic_folder
os.fsync = lambda fd: None  # the kill is the fault here, not a power loss: do not wait for the disk
calls = 0
def wrap(module, name):
    original = getattr(module, name)
    def wrapped(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    setattr(module, name, wrapped)
with atomic_folder(folder) as tmp:
    for name, text in write.items():
        os.makedirs(os.path.dirname(os.path.join(tmp, name)), exist_ok=True)
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    for module, name in ((os, "replace"), (os, "rename"), (os, "remove"), (os, "unlink"), (os, "rmdir"),
                         (os, "mkdir"), (os, "fsync"), (shutil, "rmtree")):
        wrap(module, name)
print(calls)
"""


def run_child(folder, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(folder), json.dumps(WRITE), str(kill_at)],
                          capture_output=True, text=True, timeout=60)


def kill_at_steps(tmp_path, every: int) -> None:
    write_tree(tmp_path / "count", OLD)
    done = run_child(tmp_path / "count", 0)
    assert done.returncode == 0, done.stderr
    steps = int(done.stdout)
    assert snapshot(tmp_path / "count") == NEW
    outcomes = []
    for k in sorted({*range(1, steps + 1, every), steps}):
        folder = tmp_path / f"k{k}"
        write_tree(folder, OLD)
        killed = run_child(folder, k)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        outcomes.append(assert_old_or_new(folder))
    assert outcomes[0] == "old" and outcomes[-1] == "new"


def test_kill_9_during_the_commit_leaves_old_or_new(tmp_path):
    kill_at_steps(tmp_path, every=6)


@pytest.mark.slow
def test_kill_9_at_every_step_of_the_commit_leaves_old_or_new(tmp_path):
    kill_at_steps(tmp_path, every=1)
