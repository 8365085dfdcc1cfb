"""Sharded checkpoints, in every sharded format (safetensors, bin, transformers' sharded tf_model.h5): an index
never reads a file outside its folder, and each tensor is in exactly the shard the index names."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conversion import CheckpointError, load_state_dict, read_shapes
from tests.conftest import TINY
from tests.conversion.conftest import assert_identical

SHARDED = ("safetensors", "bin", "tf")
INDEX = {"safetensors": "model.safetensors.index.json", "bin": "pytorch_model.bin.index.json",
         "tf": "tf_model.h5.index.json"}
SHARD = {"safetensors": "model-{:05d}-of-{:05d}.safetensors", "bin": "pytorch_model-{:05d}-of-{:05d}.bin",
         "tf": "tf_model-{:05d}-of-{:05d}.h5"}
MODEL = "tf_bert_for_pre_training"


def _tf_weights() -> dict[str, np.ndarray]:
    from conversion.formats import tf_h5

    return tf_h5.read_tf_names(str(TINY / "BertForPreTraining" / "tf"))


def _write_shard(fmt: str, path: str, tensors: dict[str, np.ndarray]) -> None:
    if fmt == "safetensors":
        from conversion.formats.safetensors_format import write_file

        write_file(tensors, path)
    elif fmt == "bin":
        from conversion.formats.torch_bin import write_file

        write_file(tensors, path)
    else:  # transformers' sharded TF layout: one dataset per weight, named without the model name
        import h5py

        with h5py.File(path, "w") as f:
            for name, value in tensors.items():
                f.create_dataset(name + ":0", data=value)
            f.attrs["layer_names"] = np.asarray([(n + ":0").encode() for n in tensors])


def write_sharded(fmt: str, folder, parts: list[dict[str, np.ndarray]], index: dict[str, int] | None = None) -> dict:
    """Write ``parts`` as numbered shards and an index (``index``: tensor -> shard number, 1-based; default: where
    each tensor is). Returns the weight map written."""
    os.makedirs(folder, exist_ok=True)
    names = [SHARD[fmt].format(i + 1, len(parts)) for i in range(len(parts))]
    for name, part in zip(names, parts):
        _write_shard(fmt, os.path.join(folder, name), part)
    if index is None:
        index = {k: i + 1 for i, part in enumerate(parts) for k in part}
    key = (lambda k: f"{MODEL}/{k}:0") if fmt == "tf" else (lambda k: k)
    weight_map = {key(k): names[i - 1] for k, i in index.items()}
    with open(os.path.join(folder, INDEX[fmt]), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return weight_map


@pytest.fixture(params=SHARDED)
def fmt(request):
    return request.param


@pytest.fixture
def parts(fmt, fixture_state_dicts):
    tensors = _tf_weights() if fmt == "tf" else fixture_state_dicts["BertForPreTraining"]
    names = sorted(tensors)
    half = len(names) // 2
    return [{k: tensors[k] for k in names[:half]}, {k: tensors[k] for k in names[half:]}]


def _edit_index(fmt, folder, edit) -> None:
    path = os.path.join(folder, INDEX[fmt])
    with open(path) as f:
        index = json.load(f)
    edit(index["weight_map"])
    with open(path, "w") as f:
        json.dump(index, f)


def _refused(folder, *words) -> str:
    for call in (load_state_dict, read_shapes):
        with pytest.raises(CheckpointError) as info:
            call(folder)
        text = str(info.value)
        for word in words:
            assert word in text, text
    return text


def test_a_valid_sharded_checkpoint_reads(fmt, parts, tmp_path, fixture_state_dicts):
    write_sharded(fmt, tmp_path, parts)
    assert_identical(load_state_dict(tmp_path), fixture_state_dicts["BertForPreTraining"], fmt)
    assert {k: v.shape for k, v in read_shapes(tmp_path).items()} == \
        {k: v.shape for k, v in fixture_state_dicts["BertForPreTraining"].items()}


@pytest.mark.parametrize("where", ["parent", "absolute"])
def test_shard_names_outside_the_folder_are_refused(fmt, parts, tmp_path, where):
    folder = tmp_path / "model"
    weight_map = write_sharded(fmt, folder, parts)
    second = SHARD[fmt].format(2, 2)
    os.replace(folder / second, tmp_path / second)  # a valid shard, one folder up
    outside = f"../{second}" if where == "parent" else str(tmp_path / second)
    _edit_index(fmt, folder, lambda m: m.update({k: outside for k, v in weight_map.items() if v == second}))
    _refused(folder, INDEX[fmt], "not a plain file name")


def test_a_symlink_out_of_the_folder_is_refused(fmt, parts, tmp_path):
    folder = tmp_path / "model"
    write_sharded(fmt, folder, parts)
    second = SHARD[fmt].format(2, 2)
    os.replace(folder / second, tmp_path / second)
    os.symlink(tmp_path / second, folder / second)
    _refused(folder, INDEX[fmt], "symbolic link")


def test_a_symlink_into_a_hub_cache_blob_reads(fmt, parts, tmp_path, fixture_state_dicts):
    """The Hugging Face cache layout: snapshots/<rev>/<file> -> ../../blobs/<hash>."""
    folder = tmp_path / "repo" / "snapshots" / "abc123"
    write_sharded(fmt, folder, parts)
    os.makedirs(tmp_path / "repo" / "blobs")
    for name in os.listdir(folder):
        os.replace(folder / name, tmp_path / "repo" / "blobs" / f"blob-{name}")
        os.symlink(f"../../blobs/blob-{name}", folder / name)
    assert len(load_state_dict(folder)) == len(fixture_state_dicts["BertForPreTraining"])


def test_a_tensor_in_two_shards_is_refused(fmt, parts, tmp_path):
    name = sorted(parts[0])[0]
    parts[1][name] = parts[0][name] + 1  # the same tensor, other values, in the second shard too
    write_sharded(fmt, tmp_path, parts, index={**{k: 1 for k in parts[0]}, **{k: 2 for k in parts[1] if k != name}})
    text = _refused(tmp_path, SHARD[fmt].format(2, 2))
    assert name.split(":")[0] in text and ("holds too" in text or "assigns" in text), text


def test_a_tensor_missing_from_its_shard_is_refused(fmt, parts, tmp_path):
    name = sorted(parts[1])[0]
    index = {**{k: 1 for k in parts[0]}, **{k: 2 for k in parts[1]}, name: 1}  # the index says shard 1
    write_sharded(fmt, tmp_path, parts, index=index)
    text = _refused(tmp_path, name.split(":")[0])
    assert "assigns it to shard" in text or "assigns to shard" in text or "no shard holds" in text, text


def test_transformers_sharded_tf_safetensors_read(tmp_path, fixture_state_dicts):
    """transformers' TF save_pretrained(safe_serialization=True) indexes weights with the model name, the shards
    hold them without it (both with ``:0``)."""
    from conversion.formats.safetensors_format import write_file

    weights = {k + ":0": v for k, v in _tf_weights().items()}
    names = sorted(weights)
    parts = [{k: weights[k] for k in names[:20]}, {k: weights[k] for k in names[20:]}]
    files = [SHARD["safetensors"].format(i + 1, 2) for i in range(2)]
    weight_map = {}
    for file, part in zip(files, parts):
        write_file(part, str(tmp_path / file), metadata={"format": "tf"})
        weight_map.update({f"{MODEL}/{k}": file for k in part})
    (tmp_path / INDEX["safetensors"]).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert_identical(load_state_dict(tmp_path), fixture_state_dicts["BertForPreTraining"], "tf safetensors shards")
