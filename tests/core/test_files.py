import errno
import os
import threading
import time

import pytest

from bert_core.files import FolderBusyError, atomic_folder, atomic_path, atomic_write_text, check_folder


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "model.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("disk full")
    assert os.listdir(tmp_path) == []


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "config.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o644


def test_atomic_folder_replaces_existing_subfolders(tmp_path):
    out = tmp_path / "export"
    for version in ("old", "new"):
        with atomic_folder(out) as tmp:
            os.makedirs(os.path.join(tmp, "variables"))
            open(os.path.join(tmp, "variables", "data"), "w").write(version)
            open(os.path.join(tmp, "saved_model.pb"), "w").write(version)
    assert (out / "variables" / "data").read_text() == "new" and (out / "saved_model.pb").read_text() == "new"
    assert sorted(os.listdir(out)) == ["saved_model.pb", "variables"]
    with pytest.raises(ValueError):
        with atomic_folder(out) as tmp:
            open(os.path.join(tmp, "saved_model.pb"), "w").write("broken")
            raise ValueError("failed half way")
    assert (out / "saved_model.pb").read_text() == "new"


def _write(folder, **files):
    for name, text in files.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


def test_a_destination_that_is_a_mount_point_works(tmp_path, monkeypatch):
    out = tmp_path / "volume"
    out.mkdir()
    _write(out, **{"config.json": "old"})
    real = os.replace

    def replace_within_the_volume(src, dst, **kw):  # a rename that leaves the mount point fails like a real one
        inside = [os.path.abspath(p).startswith(str(out) + os.sep) for p in (src, dst)]
        if not all(inside):
            raise OSError(errno.EXDEV, "Invalid cross-device link", src)
        return real(src, dst, **kw)

    monkeypatch.setattr(os, "replace", replace_within_the_volume)
    monkeypatch.setattr(os, "rename", replace_within_the_volume)
    with atomic_folder(out) as tmp:
        _write(tmp, **{"config.json": "new", "model.safetensors": "w"})
        os.makedirs(os.path.join(tmp, "variables"))
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "variables"]
    assert (out / "config.json").read_text() == "new"


def test_a_write_replaces_the_groups_it_writes_and_keeps_the_rest(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    _write(out, **{"config.json": "old", "model.safetensors.index.json": "{}", "model-00001-of-00002.safetensors": "",
                   "model-00002-of-00002.safetensors": "", "tf_model.h5": "", "vocab.txt": "old", "README.md": "mine"})
    with atomic_folder(out) as tmp:  # new weights (another format) and a config: no tokenizer files
        _write(tmp, **{"config.json": "new", "flax_model.msgpack": "new"})
    assert sorted(os.listdir(out)) == ["README.md", "config.json", "flax_model.msgpack", "vocab.txt"]
    with atomic_folder(out) as tmp:  # a tokenizer-only write leaves the model alone
        _write(tmp, **{"tokenizer.json": "{}", "tokenizer_config.json": "{}"})
    assert sorted(os.listdir(out)) == ["README.md", "config.json", "flax_model.msgpack", "tokenizer.json",
                                       "tokenizer_config.json"]
    with atomic_folder(out, replaces=()) as tmp:  # explicit: keep everything
        _write(tmp, **{"model.safetensors": "second format, on purpose"})
    assert "flax_model.msgpack" in os.listdir(out) and "model.safetensors" in os.listdir(out)


def test_leftovers_of_killed_writes_are_removed_by_the_next_write_and_by_check_folder(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    _write(out, **{"config.json": "old"})
    for folder in (out / ".bertzoo-staging-123-abcdefgh" / "new", tmp_path / ".m.k2j4_x9q.tmp",
                   out / ".variables.old.ab12cd34"):
        folder.mkdir(parents=True)
        _write(folder, **{"model.safetensors": "partial"})
    check_folder(out)
    assert sorted(os.listdir(out)) == ["config.json"]
    (out / ".bertzoo-staging-456-abcdefgh").mkdir()
    with atomic_folder(out) as tmp:
        _write(tmp, **{"config.json": "new"})
    assert sorted(os.listdir(out)) == ["config.json"] and sorted(os.listdir(tmp_path)) == ["m"]


def test_check_folder_finishes_a_decided_write(tmp_path, monkeypatch):
    out = tmp_path / "m"
    out.mkdir()
    _write(out, **{"config.json": "old", "model.safetensors": "old"})
    from bert_core import files_commit

    monkeypatch.setattr(files_commit, "roll_forward", lambda folder, staging: os.kill(os.getpid(), 0))
    with atomic_folder(out) as tmp:  # "killed" right after the journal: nothing moved yet
        _write(tmp, **{"config.json": "new", "model.safetensors": "new"})
    monkeypatch.undo()
    assert (out / "config.json").read_text() == "old" and len(os.listdir(out)) == 3
    check_folder(out / "config.json")  # a file path checks its folder
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]
    assert (out / "config.json").read_text() == "new" and (out / "model.safetensors").read_text() == "new"
    check_folder(tmp_path / "missing")  # the loader reports a missing folder itself


def test_concurrent_writers_are_serialised_or_refused(tmp_path):
    out = tmp_path / "m"
    with atomic_folder(out) as tmp:
        _write(tmp, **{"config.json": "first"})
        with pytest.raises(FolderBusyError, match=r"another process is writing into this folder \(pid \d+\)"):
            with atomic_folder(out, lock_timeout=0.1) as other:
                _write(other, **{"config.json": "second"})
    assert sorted(os.listdir(out)) == ["config.json"] and (out / "config.json").read_text() == "first"
    order = []

    def slow_writer():
        with atomic_folder(out) as tmp:
            order.append("slow in")
            time.sleep(0.3)
            _write(tmp, **{"config.json": "slow"})
        order.append("slow out")

    thread = threading.Thread(target=slow_writer)
    thread.start()
    while not order:
        time.sleep(0.01)
    with atomic_folder(out, lock_timeout=10) as tmp:
        order.append("waiter in")
        _write(tmp, **{"config.json": "waiter"})
    thread.join()
    assert order == ["slow in", "slow out", "waiter in"] and (out / "config.json").read_text() == "waiter"


def test_a_failed_write_into_a_new_folder_leaves_no_folder(tmp_path):
    with pytest.raises(ValueError):
        with atomic_folder(tmp_path / "new") as tmp:
            _write(tmp, **{"config.json": "x"})
            raise ValueError("failed")
    assert os.listdir(tmp_path) == []


def test_folder_writes_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_folder(tmp_path / "m") as tmp:
            _write(tmp, **{"config.json": "{}"})
            os.makedirs(os.path.join(tmp, "variables"))
    finally:
        os.umask(old)
    assert (tmp_path / "m" / "config.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "m" / "variables").stat().st_mode & 0o777 == 0o750


def test_nested_folder_writes_commit_together(tmp_path):
    """A trainer can save the model (itself an atomic_folder write) and its state in one commit."""
    out = tmp_path / "checkpoint"
    with atomic_folder(out) as tmp:
        with atomic_folder(tmp) as inner:
            _write(inner, **{"config.json": "{}", "model.safetensors": "w"})
        _write(tmp, **{"training_state.pt": "state"})
        assert not (out / "config.json").exists()
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "training_state.pt"]


def test_bertzoo_fsync_0_skips_the_data_flush_only(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.path.isdir(f"/proc/self/fd/{fd}")) or real(fd))
    for flag in ("1", "0"):
        monkeypatch.setenv("BERTZOO_FSYNC", flag)
        synced.clear()
        with atomic_folder(tmp_path / flag) as tmp:
            _write(tmp, **{"config.json": "{}", "model.safetensors": "w"})
        files = synced.count(False)  # the two data files, then the journal
        assert files == (3 if flag == "1" else 1) and synced.count(True) >= 3


def test_from_pretrained_finishes_an_interrupted_commit_first(tmp_path, monkeypatch):
    """A loader never reads a half-committed folder: the shared loading step runs check_folder first."""
    from conversion import pretrained

    calls = []
    monkeypatch.setattr(pretrained, "check_folder", lambda path: calls.append(path))
    folder = tmp_path / "model"
    folder.mkdir()
    assert pretrained._resolve(str(folder), "", True) == str(folder)
    assert calls == [str(folder)]
