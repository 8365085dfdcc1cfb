"""The streaming readers and writers (issue 6): same bytes and values as the libraries they replace, views of the
file where asked, copies otherwise, and a fallback wherever the fast path does not apply."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from conversion.formats import common
from tests.conversion.conftest import assert_identical, available_formats

FORMATS = available_formats()


def _sorted(tree):
    return {k: _sorted(tree[k]) for k in sorted(tree)} if isinstance(tree, dict) else tree


def _odd_leaves() -> dict[str, object]:
    import ml_dtypes

    rng = np.random.default_rng(0)
    flat = {"a/kernel": rng.standard_normal((3, 5)).astype(np.float32), "a/empty": np.zeros((0, 3), np.float32),
            "a/scalar": np.float32(2.5), "b/zero_d": np.array(3.0, np.float32),
            "b/bf16": rng.standard_normal((7,)).astype(ml_dtypes.bfloat16), "b/f64": np.ones((2,), np.float64),
            "c/big": np.arange(70000, dtype=np.float32).reshape(100, 700), "c/fortran": np.asfortranarray(
                rng.standard_normal((4, 6)).astype(np.float32))}
    for n in (0, 1, 2, 3, 4, 8, 9, 16, 200, 255, 256, 300, 65535, 65536):  # every ext / bin header size
        flat[f"len/{n:05d}"] = np.ones((n,), np.uint8)
    return flat


def test_ext_header_matches_msgpack():
    from conversion.formats.flax_msgpack import _ext_header

    for n in (1, 2, 3, 4, 5, 8, 16, 17, 255, 256, 65535, 65536, 70000):
        assert _ext_header(1, n) + b"x" * n == msgpack.packb(msgpack.ExtType(1, b"x" * n))


def test_streamed_msgpack_equals_flax_serialization(tmp_path):
    import flax  # noqa: F401 - the reference writer; missing is a failure, not a skip
    from flax.serialization import msgpack_restore, msgpack_serialize

    from conversion.formats import flax_msgpack
    from conversion.names.flax import flatten, unflatten

    tree = _sorted(unflatten(_odd_leaves()))  # flax's serializer orders keys; ours keeps the given order
    flax_msgpack.write_flat(flatten(tree), str(tmp_path / "x.msgpack"))
    written = (tmp_path / "x.msgpack").read_bytes()
    assert written == msgpack_serialize(tree)
    ours, theirs = flatten(flax_msgpack.read_tree(str(tmp_path / "x.msgpack"))), flatten(msgpack_restore(written))
    assert sorted(ours) == sorted(theirs)
    for k, v in theirs.items():
        assert np.asarray(ours[k]).dtype == np.asarray(v).dtype and np.shape(ours[k]) == np.shape(v), k
        assert np.array_equal(ours[k], v), k


def test_msgpack_parser_reads_what_msgpack_writes(tmp_path):
    from conversion.formats import flax_msgpack

    tree = {"ints": [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32, 2**63, -1, -32, -33, -129, -2**15 - 1,
                     -2**31 - 1, -2**63], "floats": [0.5, -1e300], "strs": ["", "a" * 31, "b" * 32, "c" * 300,
                                                                      "é" * 70000],
             "bins": [b"", b"x" * 300, b"y" * 70000], "other": [None, True, False, {"1": [[]]}, [1] * 20],
             "complex": 1 + 2j, 5: "int key", "x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    (tmp_path / "x.msgpack").write_bytes(msgpack.packb(tree, default=flax_msgpack._default, use_bin_type=True))
    got = flax_msgpack.read_tree(str(tmp_path / "x.msgpack"))
    assert np.array_equal(got.pop("x"), tree.pop("x"))
    assert got == tree


def test_msgpack_read_views_and_copies(tmp_path, fixture_state_dicts):
    from conversion.formats import flax_msgpack

    ref = fixture_state_dicts["BertForPreTraining"]
    flax_msgpack.write(ref, str(tmp_path))
    views, copies = flax_msgpack.read(str(tmp_path), mmap=True), flax_msgpack.read(str(tmp_path))
    assert_identical(views, ref, "mmap")
    assert_identical(copies, ref, "copies")
    assert any(common.file_backed(v) for v in views.values())
    assert not any(common.file_backed(v) for v in copies.values())
    assert all(v.flags.c_contiguous for v in copies.values())
    assert not any(common.file_backed(v) for v in flax_msgpack.read_flat(str(tmp_path)).values())


@pytest.mark.parametrize("payload", [b"\x81\xa1a\xc7\x05\x01\x93\x91\x02\xa7", b"\x82\xa1a\xc0", b"\x81\xa1a\xc0\xc0",
                                     b"\x81\xa1a\xd4\x01\x93", b"\x91" * 600 + b"\xc0" * 600])
def test_msgpack_parser_refuses_broken_records(payload, tmp_path):
    from conversion import CheckpointError
    from conversion.formats import flax_msgpack

    (tmp_path / "flax_model.msgpack").write_bytes(payload)
    with pytest.raises(CheckpointError, match="flax_model.msgpack"):
        flax_msgpack.read(str(tmp_path))


def test_h5_read_views_and_chunked_fallback(tmp_path, fixture_state_dicts):
    import h5py

    from conversion.formats import tf_h5

    ref = fixture_state_dicts["BertForPreTraining"]
    tf_h5.write(ref, str(tmp_path / "a"), head="BertForPreTraining")
    views = tf_h5.read(str(tmp_path / "a"), mmap=True)
    assert_identical(views, ref, "mmap")
    assert any(common.file_backed(v) for v in views.values())
    copies = tf_h5.read(str(tmp_path / "a"))
    assert_identical(copies, ref, "copies")
    assert not any(common.file_backed(v) for v in copies.values())
    # The same file with compressed (chunked) datasets reads through h5py.
    src, dst = h5py.File(tmp_path / "a" / "tf_model.h5", "r"), None
    (tmp_path / "b").mkdir()
    with src, h5py.File(tmp_path / "b" / "tf_model.h5", "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                group = dst.require_group(name)
                for key, value in obj.attrs.items():
                    group.attrs[key] = value
            else:
                dst.create_dataset(name, data=obj[()], compression="gzip")

        src.visititems(copy)
    packed = tf_h5.read(str(tmp_path / "b"), mmap=True)
    assert_identical(packed, ref, "gzip")
    assert not any(common.file_backed(v) for v in packed.values())


@pytest.mark.parametrize("max_shard_size", [None, 20000])
def test_tf1_direct_reader_equals_tensorflows(max_shard_size, tmp_path, fixture_state_dicts):
    from conversion.formats import tf1_ckpt, tf1_native

    ref = fixture_state_dicts["BertForPreTraining"]
    tf1_ckpt.write(ref, str(tmp_path), max_shard_size=max_shard_size)
    assert tf1_native.native_reader(tf1_ckpt.resolve_prefix(str(tmp_path))) is not None
    direct = tf1_ckpt.read(str(tmp_path), mmap=True)
    reader = tf1_ckpt._reader(tf1_ckpt.resolve_prefix(str(tmp_path)))
    tensorflow = {schema: (reader.get_tensor(k).T if transposed else reader.get_tensor(k))
                  for k, (schema, transposed) in tf1_ckpt.names.plan_read(reader.get_variable_to_shape_map())[0].items()}
    assert_identical(direct, tensorflow, "direct vs TensorFlow")
    assert_identical(tf1_ckpt.read(str(tmp_path)), ref, "copies")
    assert any(common.file_backed(v) for v in direct.values())


def test_tf1_direct_reader_on_many_variables_and_dtypes(tmp_path):
    import ml_dtypes
    import tensorflow as tf

    from conversion.formats import tf1_native

    rng = np.random.default_rng(0)
    values = {f"scope_{i:03d}/layer_{i % 7}/kernel_with_a_long_shared_prefix": rng.standard_normal((i % 5 + 1, 3))
              .astype(np.float32) for i in range(400)}  # many table blocks and restart points
    values.update({"global_step": np.array(7, np.int64), "half": np.ones((3,), np.float16),
                   "bf16": np.arange(4, dtype=np.float32).astype(ml_dtypes.bfloat16), "f64": np.ones((2, 2)),
                   "empty": np.zeros((0, 4), np.float32)})
    prefix = str(tmp_path / "model.ckpt")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=list(values), shape_and_slices=[""] * len(values),
                      tensors=[tf.constant(v) for v in values.values()])
    specs, get_tensor = tf1_native.native_reader(prefix)
    assert specs == {k: (v.shape, v.dtype) for k, v in values.items()}
    for name, value in values.items():
        got = get_tensor(name)
        assert got.dtype == value.dtype and got.shape == value.shape and np.array_equal(got, value), name


def test_tf1_truncated_data_names_the_file(tmp_path, fixture_state_dicts):
    from conversion import CheckpointError
    from conversion.formats import tf1_ckpt

    tf1_ckpt.write(fixture_state_dicts["BertForPreTraining"], str(tmp_path))
    data = tmp_path / "bert_model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        tf1_ckpt.read(str(tmp_path))


def test_transposed_into_scratch():
    scratch = common.Scratch()
    a = np.arange(300 * 400, dtype=np.float32).reshape(300, 400)
    first = scratch.transposed(a)
    assert np.array_equal(first, a.T) and first.flags.c_contiguous and first.ctypes.data % 64 == 0
    assert scratch.transposed(a + 1) is first and np.array_equal(first, (a + 1).T)


@pytest.mark.parametrize("fmt", ["flax", "tf", "tf1"])
def test_mapped_kernels_are_transposed_views_and_convert_writes_them(fmt, tmp_path, fixture_state_dicts):
    from conversion import convert, load_state_dict, save_state_dict
    from tests.conftest import TINY

    ref = fixture_state_dicts["BertForPreTraining"]
    save_state_dict(ref, tmp_path / "src", fmt, head="BertForPreTraining")
    (tmp_path / "src" / "config.json").write_bytes((TINY / "BertForPreTraining" / "pt" / "config.json").read_bytes())
    mapped = load_state_dict(tmp_path / "src", mmap=True)
    kernel = mapped["bert.encoder.layer.0.intermediate.dense.weight"]
    assert common.file_backed(kernel) and kernel.T.flags.c_contiguous and not kernel.flags.c_contiguous
    assert_identical(mapped, ref, "mapped")
    assert all(v.flags.c_contiguous for v in common.contiguous(mapped).values())
    assert_identical(common.contiguous(mapped), ref, "contiguous")
    for to in FORMATS:
        if to != fmt and to in ("safetensors", "bin", "flax", "tf", "tf1"):
            convert(tmp_path / "src", tmp_path / to, to)
            assert_identical(load_state_dict(tmp_path / to), ref, f"{fmt} -> {to}")
