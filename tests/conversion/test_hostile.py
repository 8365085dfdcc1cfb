"""Broken and hostile checkpoints get a clear CheckpointError naming the file and the problem, and run no code."""

from __future__ import annotations

import json
import os
import shutil
import struct

import numpy as np
import pytest

from conversion import CheckpointError, WeightMismatchError, convert, load_state_dict, save_state_dict
from tests.conftest import TINY
from tests.conversion.conftest import available_formats

FORMATS = available_formats()
LFS_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 440473133\n")
_FILES = {"safetensors": "model.safetensors", "bin": "pytorch_model.bin", "tf": "tf_model.h5",
          "flax": "flax_model.msgpack", "tf1": "bert_model.ckpt.data-00000-of-00001"}


def need(fmt: str) -> None:
    assert fmt in FORMATS, f"format {fmt} is not registered"


def raises_clearly(path, *words, exc=CheckpointError):
    """Load ``path``; the error must be ``exc``, name the file, contain every word, and not chain a library error."""
    with pytest.raises(exc) as info:
        load_state_dict(path)
    text = str(info.value)
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in {text!r}"
    assert info.value.__cause__ is None
    return text


@pytest.fixture
def ref(fixture_state_dicts):
    return fixture_state_dicts["BertForPreTraining"]


def write(ref, folder, fmt):
    need(fmt)
    save_state_dict(ref, folder, fmt, head="BertForPreTraining")
    return folder


@pytest.mark.parametrize("fmt", ["safetensors", "bin", "tf", "flax", "tf1"])
def test_truncated_files(fmt, ref, tmp_path):
    folder = write(ref, tmp_path, fmt)
    path = folder / _FILES[fmt]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    text = raises_clearly(folder)
    assert _FILES[fmt] in text or str(folder) in text


@pytest.mark.parametrize("fmt", ["safetensors", "bin", "tf", "flax", "tf1"])
def test_git_lfs_pointer_instead_of_weights(fmt, ref, tmp_path):
    folder = write(ref, tmp_path, fmt)
    (folder / _FILES[fmt]).write_text(LFS_POINTER)
    text = raises_clearly(folder, "Git LFS pointer", "git lfs pull")
    assert _FILES[fmt] in text


def test_bad_safetensors_header(ref, tmp_path):
    write(ref, tmp_path, "safetensors")
    path = tmp_path / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:12] = b"XXXX"  # break the JSON
    path.write_bytes(bytes(data))
    raises_clearly(tmp_path, "model.safetensors", "header")
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")  # header longer than the file
    raises_clearly(tmp_path, "model.safetensors", "header")
    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 60]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 60)  # offsets disagree with the shape
    raises_clearly(tmp_path, "model.safetensors", "'w'", "shape")


def test_unknown_format_metadata(ref, tmp_path):
    from conversion.formats.safetensors_format import write_file

    write_file(ref, str(tmp_path / "model.safetensors"), metadata={"format": "mindspore"})
    raises_clearly(tmp_path, "model.safetensors", "mindspore")


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_index_naming_a_missing_shard(fmt, ref, tmp_path):
    need(fmt)
    files = save_state_dict(ref, tmp_path / "sharded", fmt, max_shard_size=20_000)
    os.remove(tmp_path / "sharded" / files[1])
    raises_clearly(tmp_path / "sharded", files[1], "missing")


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_index_listing_tensors_no_shard_holds(fmt, ref, tmp_path):
    need(fmt)
    files = save_state_dict(ref, tmp_path, fmt, max_shard_size=20_000)
    index_path = tmp_path / files[-1]
    index = json.loads(index_path.read_text())
    index["weight_map"]["bert.encoder.layer.7.output.dense.weight"] = files[0]
    index_path.write_text(json.dumps(index))
    raises_clearly(tmp_path, "index.json", "bert.encoder.layer.7.output.dense.weight")


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_a_shard_missing_from_the_index(fmt, ref, tmp_path):
    need(fmt)
    files = save_state_dict(ref, tmp_path, fmt, max_shard_size=20_000)
    index_path = tmp_path / files[-1]
    index = json.loads(index_path.read_text())
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if v != files[1]}
    index_path.write_text(json.dumps(index))
    raises_clearly(tmp_path, "index.json", files[1], "incomplete")


def test_convert_refuses_a_checkpoint_missing_encoder_tensors(ref, tmp_path):
    partial = {k: v for k, v in ref.items() if ".layer.1." not in k}
    save_state_dict(partial, tmp_path / "src", "safetensors")
    shutil.copyfile(TINY / "BertForPreTraining" / "pt" / "config.json", tmp_path / "src" / "config.json")
    with pytest.raises(CheckpointError, match=r"lacks 16 tensor\(s\).*layer\.1\."):
        convert(tmp_path / "src", tmp_path / "dst", "pt")
    assert not (tmp_path / "dst").exists()
    plan = convert(tmp_path / "src", tmp_path / "dst", "pt", dry_run=True)
    assert plan.count("missing") == 16


def test_wrong_shapes_are_refused_by_convert(ref, tmp_path):
    bad = dict(ref)
    bad["bert.encoder.layer.0.intermediate.dense.weight"] = np.zeros((40, 32), np.float32)
    save_state_dict(bad, tmp_path / "src", "safetensors")
    shutil.copyfile(TINY / "BertForPreTraining" / "pt" / "config.json", tmp_path / "src" / "config.json")
    with pytest.raises(WeightMismatchError, match=r"intermediate\.dense\.weight: \(40, 32\).*\(37, 32\)"):
        convert(tmp_path / "src", tmp_path / "dst", "pt")
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_integer_weights_are_refused(fmt, ref, tmp_path):
    need(fmt)
    bad = {**ref, "bert.embeddings.word_embeddings.weight": np.zeros((99, 32), np.int64)}
    if fmt == "safetensors":
        from conversion.formats.safetensors_format import write_file

        write_file(bad, str(tmp_path / "model.safetensors"))
    else:
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in bad.items()}, tmp_path / "pytorch_model.bin")
    raises_clearly(tmp_path, "word_embeddings", "int64", "floating point")


def test_strings_in_a_bin_are_refused(ref, tmp_path):
    need("bin")
    import torch

    torch.save({"bert.embeddings.word_embeddings.weight": "hello"}, tmp_path / "pytorch_model.bin")
    raises_clearly(tmp_path, "pytorch_model.bin", "word_embeddings", "not a tensor")


def test_strings_in_an_h5_are_refused(ref, tmp_path):
    need("tf")
    import h5py

    folder = write(ref, tmp_path, "tf")
    with h5py.File(folder / "tf_model.h5", "r+") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        del f[names[0]]
        f.create_dataset(names[0], data=np.array([b"not", b"weights"]))
    raises_clearly(folder, "tf_model.h5")


def test_empty_folder(tmp_path):
    raises_clearly(tmp_path, "empty")


def test_missing_path(tmp_path):
    raises_clearly(tmp_path / "nope.safetensors", "does not exist")


def test_pickle_with_a_payload_does_not_run(tmp_path):
    need("bin")
    import pickle

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import torch

    torch.save({"bert.embeddings.word_embeddings.weight": torch.zeros(2, 2), "evil": Payload()},
               tmp_path / "pytorch_model.bin", pickle_module=pickle)
    raises_clearly(tmp_path, "pytorch_model.bin", "could run code")
    assert not marker.exists(), "unpickling ran the payload"
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))  # a bare legacy pickle
    raises_clearly(tmp_path, "pytorch_model.bin")
    assert not marker.exists(), "unpickling ran the payload"


def test_failed_conversion_leaves_nothing(ref, tmp_path):
    """tf1 has no name for an untied decoder weight: the error comes before any file is moved into place."""
    need("tf1")
    sd = {**ref, "cls.predictions.decoder.weight": np.ones((99, 32), np.float32)}
    save_state_dict(sd, tmp_path / "src", "safetensors")
    config = json.loads((TINY / "BertForPreTraining" / "pt" / "config.json").read_text())
    (tmp_path / "src" / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": False}))
    with pytest.raises(CheckpointError, match="decoder.weight"):
        convert(tmp_path / "src", tmp_path / "dst", "tf1")
    assert not (tmp_path / "dst").exists() or not os.listdir(tmp_path / "dst")
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


@pytest.mark.parametrize("content", ["random", "random-after-pickle-header", "text", "zip-with-garbage-pickle"])
def test_garbage_in_a_bin_is_not_called_a_pickle_payload(content, tmp_path):
    """Random bytes are 'not a valid PyTorch checkpoint', not 'pickled objects that could run code'."""
    need("bin")
    import zipfile

    rng = np.random.default_rng(0)
    path = tmp_path / "pytorch_model.bin"
    if content == "zip-with-garbage-pickle":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", rng.bytes(3000))
            z.writestr("archive/version", "3\n")
    else:
        data = {"random": rng.bytes(5000), "random-after-pickle-header": b"\x80\x02" + rng.bytes(5000),
                "text": b"hello, this is not a checkpoint\n" * 100}[content]
        path.write_bytes(data)
    text = raises_clearly(tmp_path, "pytorch_model.bin", "not a valid PyTorch checkpoint")
    assert "could run code" not in text


def test_a_zip_bin_with_a_payload_still_says_code(tmp_path):
    need("bin")
    import pickle

    import torch

    class Payload:
        def __reduce__(self):
            return (print, ("hi",))

    torch.save({"w": torch.zeros(2), "evil": Payload()}, tmp_path / "pytorch_model.bin", pickle_module=pickle)
    raises_clearly(tmp_path, "pytorch_model.bin", "could run code")
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))  # a bare pickle with a global
    raises_clearly(tmp_path, "pytorch_model.bin", "could run code")


def test_a_huge_length_in_a_damaged_pickle_allocates_nothing(tmp_path):
    """Telling garbage from a payload scans the pickle; a length field claiming 4 GiB must not be allocated."""
    need("bin")
    import tracemalloc

    import torch  # noqa: F401 - imported before tracing starts

    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04\x8e" + (2**32).to_bytes(8, "little") + b"x" * 100)
    tracemalloc.start()
    try:
        raises_clearly(tmp_path, "pytorch_model.bin", "not a valid PyTorch checkpoint")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB allocated"
