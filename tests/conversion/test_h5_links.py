"""A hostile tf_model.h5 must not read bytes from outside itself: HDF5 external storage, virtual datasets, external
links and soft links are refused with a CheckpointError naming the file and the dataset."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from conversion import CheckpointError, convert, load_state_dict, read_shapes
from conversion.formats import tf_h5
from tests.conftest import TINY

HEAD = "BertForSequenceClassification"
SECRET = np.arange(32 * 32, dtype=np.float32).reshape(32, 32) + 1000.0  # "private" bytes elsewhere on disk


def _target(f) -> str:
    """The h5 path of the query kernel of layer 0 (a [32, 32] float32 dataset)."""
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and "layer_._0/attention/self/query/kernel"
                 in n else None)
    return names[0]


@pytest.fixture
def folder(tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(TINY / HEAD / "tf", dst)
    shutil.copyfile(TINY / HEAD / "pt" / "config.json", dst / "config.json")
    return dst


@pytest.fixture
def secret_files(tmp_path):
    raw = tmp_path / "secret.bin"
    raw.write_bytes(SECRET.tobytes())
    with h5py.File(tmp_path / "secret.h5", "w") as f:
        f.create_dataset("secret", data=SECRET)
    return raw, tmp_path / "secret.h5"


def _replace(folder, make) -> str:
    with h5py.File(folder / "tf_model.h5", "r+") as f:
        name = _target(f)
        del f[name]
        make(f, name)
    return name


def _refused(folder, *words):
    for call in (lambda: load_state_dict(folder), lambda: load_state_dict(folder, mmap=True),
                 lambda: read_shapes(folder)):
        with pytest.raises(CheckpointError) as info:
            call()
        text = str(info.value)
        assert "tf_model.h5" in text and "query/kernel" in text, text
        for word in words:
            assert word in text, text
    with pytest.raises(CheckpointError):
        convert(folder, folder.parent / "out", "pt")
    assert not (folder.parent / "out").exists()


def test_external_storage_is_refused(folder, secret_files):
    raw, _ = secret_files
    _replace(folder, lambda f, n: f.create_dataset(n, shape=(32, 32), dtype="f4", external=[(str(raw), 0, 4096)]))
    _refused(folder, "external file", "secret.bin")


def test_virtual_dataset_is_refused(folder, secret_files):
    _, h5 = secret_files

    def make(f, name):
        layout = h5py.VirtualLayout(shape=(32, 32), dtype="f4")
        layout[:] = h5py.VirtualSource(str(h5), "secret", shape=(32, 32))
        f.create_virtual_dataset(name, layout)

    _replace(folder, make)
    _refused(folder, "virtual dataset")


def test_external_link_is_refused(folder, secret_files):
    _, h5 = secret_files
    _replace(folder, lambda f, n: f.__setitem__(n, h5py.ExternalLink(str(h5), "/secret")))
    _refused(folder, "external link", "secret.h5")


def test_soft_link_is_refused(folder):
    def make(f, name):
        f[name] = h5py.SoftLink("/" + name.replace("query", "key"))

    _replace(folder, make)
    _refused(folder, "soft link")


def test_dangling_soft_link_is_refused(folder):
    _replace(folder, lambda f, n: f.__setitem__(n, h5py.SoftLink("/nowhere")))
    _refused(folder, "soft link")


def test_a_linked_group_on_the_way_is_refused(folder, secret_files):
    """A link higher up the path (a layer group) is refused too, not only one on the dataset itself."""
    _, h5 = secret_files
    with h5py.File(folder / "tf_model.h5", "r+") as f:
        layer = str(np.char.decode(f.attrs["layer_names"][0]) if isinstance(f.attrs["layer_names"][0], bytes) else f.attrs["layer_names"][0])
        f.move(layer, "moved")
        f[layer] = h5py.SoftLink("/moved")
    with pytest.raises(CheckpointError, match="soft link"):
        load_state_dict(folder)


def test_huge_claimed_dataset_is_refused_before_allocating(folder):
    """A dataset whose header claims far more bytes than the file stores is refused, not allocated."""
    _replace(folder, lambda f, n: f.create_dataset(n, shape=(2**20, 2**20), dtype="f4", chunks=(32, 32)))
    with pytest.raises(CheckpointError, match="claims"):
        load_state_dict(folder)


def test_a_plain_file_still_reads(folder):
    sd = load_state_dict(folder)
    assert not any(np.array_equal(v, SECRET) for v in sd.values())
    assert tf_h5.read_shapes(str(folder))["bert.encoder.layer.0.attention.self.query.weight"].shape == (32, 32)
