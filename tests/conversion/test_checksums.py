"""TF1 checkpoints: the direct reader checks every tensor's crc32c (and the index's blocks) by default; a flipped
bit is a CheckpointError naming the tensor, and ``verify=False`` skips the checks."""

from __future__ import annotations

import numpy as np
import pytest

from conversion import CheckpointError, load_state_dict
from conversion.formats import tf1_native
from tests.conversion.conftest import assert_identical

QUERY = "bert/encoder/layer_0/attention/self/query/kernel"
DATA = "bert_model.ckpt.data-00000-of-00001"


@pytest.fixture
def ckpt(tmp_path, fixture_state_dicts):
    from conversion import save_state_dict

    save_state_dict(fixture_state_dicts["BertForPreTraining"], tmp_path, "tf1")
    return tmp_path


def _flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_masked_crc32c_matches_tensorflows(ckpt):
    """The crc32c stored in the index is TensorFlow's masked crc32c of the tensor's bytes."""
    entries = tf1_native.native_entries(str(ckpt / "bert_model.ckpt.index"), verify=True)
    data = (ckpt / DATA).read_bytes()
    for name, e in entries.items():
        if e["size"]:
            assert tf1_native.masked_crc32c(data[e["offset"]:e["offset"] + e["size"]]) == e["crc32c"], name
    assert tf1_native.masked_crc32c(b"123456789") == ((0xE3069283 >> 15 | 0xE3069283 << 17) + 0xA282EAD8) \
        & 0xFFFFFFFF


@pytest.mark.parametrize("mmap", [False, True])
def test_a_flipped_bit_in_the_data_names_the_tensor(ckpt, fixture_state_dicts, mmap):
    entry = tf1_native.native_entries(str(ckpt / "bert_model.ckpt.index"))[QUERY]
    _flip(ckpt / DATA, entry["offset"] + 5)
    with pytest.raises(CheckpointError, match=f"{QUERY} fails its crc32c check") as info:
        load_state_dict(ckpt, mmap=mmap)
    assert DATA in str(info.value) and "verify=False" in str(info.value)
    # the explicit opt-out reads the damaged values as they are
    sd = load_state_dict(ckpt, verify=False, mmap=mmap)
    ref = fixture_state_dicts["BertForPreTraining"]
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert not np.array_equal(sd[name], ref[name])
    assert all(np.array_equal(sd[k], ref[k]) for k in ref if k != name)


def test_every_damaged_tensor_is_caught(ckpt):
    """Flipping one byte in each tensor: each load fails naming that tensor (none load silently)."""
    entries = tf1_native.native_entries(str(ckpt / "bert_model.ckpt.index"))
    clean = (ckpt / DATA).read_bytes()
    for name, e in sorted(entries.items())[::7]:
        if not e["size"]:
            continue
        _flip(ckpt / DATA, e["offset"] + e["size"] // 2)
        with pytest.raises(CheckpointError, match=name):
            load_state_dict(ckpt)
        (ckpt / DATA).write_bytes(clean)


def test_a_flipped_bit_in_the_index_is_caught(ckpt):
    index = ckpt / "bert_model.ckpt.index"
    key = index.read_bytes().find(b"word_embeddings")
    assert key > 0
    _flip(index, key + 3)
    with pytest.raises(CheckpointError, match="bert_model.ckpt.index.*crc32c"):
        load_state_dict(ckpt)


def test_clean_checkpoint_reads_with_and_without_checks(ckpt, fixture_state_dicts):
    for verify in (True, False):
        assert_identical(load_state_dict(ckpt, verify=verify), fixture_state_dicts["BertForPreTraining"], "tf1")
