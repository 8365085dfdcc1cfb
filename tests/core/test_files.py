import os

import pytest

from bert_core.files import atomic_folder, atomic_path, atomic_write_text


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
