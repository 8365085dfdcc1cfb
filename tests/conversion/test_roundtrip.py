"""Round trips are bit-exact: any format to any other and back gives the same names, dtypes and values."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conversion import convert, load_state_dict, save_state_dict
from tests.conftest import HEADS, TINY
from tests.conversion.conftest import assert_identical, available_formats

FORMATS = available_formats()


@pytest.mark.parametrize("head", HEADS)
def test_every_pair_round_trips_bit_exact(head, fixture_state_dicts, tmp_path):
    ref = fixture_state_dicts[head]
    for a in FORMATS:
        save_state_dict(ref, tmp_path / a, a, head=head)
        in_a = load_state_dict(tmp_path / a)
        assert_identical(in_a, ref, f"{head} -> {a}")
        for b in FORMATS:
            if b == a:
                continue
            save_state_dict(in_a, tmp_path / f"{a}-{b}", b, head=head)
            save_state_dict(load_state_dict(tmp_path / f"{a}-{b}"), tmp_path / f"{a}-{b}-{a}", a, head=head)
            assert_identical(load_state_dict(tmp_path / f"{a}-{b}-{a}"), ref, f"{head}: {a} -> {b} -> {a}")


@pytest.mark.parametrize("src", ["tf", "flax"])
def test_transformers_tf_and_flax_fixtures_read_as_the_pt_fixture(src, fixture_state_dicts):
    for head in HEADS:
        assert_identical(load_state_dict(TINY / head / src), fixture_state_dicts[head], f"{head}/{src}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_dtypes_are_kept(dtype, fixture_state_dicts, tmp_path):
    from conversion.formats.common import bfloat16

    np_dtype = bfloat16() if dtype == "bfloat16" else np.dtype(dtype)
    ref = {k: v.astype(np_dtype) for k, v in fixture_state_dicts["BertForPreTraining"].items()}
    for fmt in [f for f in FORMATS if f in ("safetensors", "bin", "tf1", "tf-safetensors", "flax-safetensors")]:
        save_state_dict(ref, tmp_path / fmt, fmt, head="BertForPreTraining")
        assert_identical(load_state_dict(tmp_path / fmt), ref, f"{dtype} via {fmt}")


def test_sharded_tf1_round_trip(fixture_state_dicts, tmp_path):
    ref = fixture_state_dicts["BertForMaskedLM"]
    files = save_state_dict(ref, tmp_path, "tf1", max_shard_size=20_000)
    assert "bert_model.ckpt.index" in files and len(files) > 3 and "bert_model.ckpt.data-00001-of-0000" in str(files)
    assert_identical(load_state_dict(tmp_path), ref, "sharded tf1")


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_sharded_round_trip(fmt, fixture_state_dicts, tmp_path):
    ref = fixture_state_dicts["BertForMaskedLM"]
    files = save_state_dict(ref, tmp_path, fmt, max_shard_size=20_000)
    index = [f for f in files if f.endswith(".index.json")]
    assert index and len(files) > 3, files
    weight_map = json.loads((tmp_path / index[0]).read_text())["weight_map"]
    assert sorted(weight_map) == sorted(ref)
    assert_identical(load_state_dict(tmp_path), ref, f"sharded {fmt}")
    assert_identical(load_state_dict(tmp_path, mmap=True), ref, f"sharded {fmt}, mmap")


def test_safetensors_we_write_read_with_the_safetensors_library(fixture_state_dicts, tmp_path):
    from safetensors import safe_open

    ref = fixture_state_dicts["BertForPreTraining"]
    save_state_dict(ref, tmp_path, "safetensors")
    with safe_open(str(tmp_path / "model.safetensors"), framework="np") as f:
        assert f.metadata() == {"format": "pt"}
        assert_identical({k: f.get_tensor(k) for k in f.keys()}, ref, "safetensors library")


def test_tf1_checkpoint_holds_googles_names_and_layouts(fixture_state_dicts, tmp_path):
    import tensorflow as tf
    sd = {**fixture_state_dicts["BertForPreTraining"]}
    save_state_dict(sd, tmp_path, "tf1")
    reader = tf.train.load_checkpoint(str(tmp_path / "bert_model.ckpt"))
    shapes = reader.get_variable_to_shape_map()
    assert shapes["bert/encoder/layer_0/intermediate/dense/kernel"] == [32, 37]  # [in, out]
    assert shapes["cls/seq_relationship/output_weights"] == [2, 32]
    assert shapes["cls/predictions/output_bias"] == [99]
    assert "bert/embeddings/LayerNorm/gamma" in shapes
    np.testing.assert_array_equal(reader.get_tensor("bert/encoder/layer_1/attention/self/query/kernel"),
                                  sd["bert.encoder.layer.1.attention.self.query.weight"].T)


def test_tf1_heads_of_run_classifier_and_run_squad(fixture_state_dicts, tmp_path):
    import tensorflow as tf
    save_state_dict(fixture_state_dicts["BertForSequenceClassification"], tmp_path / "cls", "tf1")
    save_state_dict(fixture_state_dicts["BertForQuestionAnswering"], tmp_path / "qa", "tf1")
    cls = tf.train.load_checkpoint(str(tmp_path / "cls" / "bert_model.ckpt")).get_variable_to_shape_map()
    qa = tf.train.load_checkpoint(str(tmp_path / "qa" / "bert_model.ckpt")).get_variable_to_shape_map()
    assert cls["output_weights"] == [3, 32] and cls["output_bias"] == [3]
    assert qa["cls/squad/output_weights"] == [2, 32] and qa["cls/squad/output_bias"] == [2]


def test_tf1_optimizer_slots_and_global_step_are_skipped(fixture_state_dicts, tmp_path):
    import tensorflow as tf
    from conversion.names.tf1 import schema_to_tf1

    sd = fixture_state_dicts["BertForMaskedLM"]
    plan = schema_to_tf1(sd)
    names, tensors = [], []
    for k, (tf1, transposed) in plan.items():
        value = np.ascontiguousarray(sd[k].T) if transposed else sd[k]
        names += [tf1, tf1 + "/adam_m", tf1 + "/adam_v"]
        tensors += [value, np.zeros_like(value), np.ones_like(value)]
    names.append("global_step")
    tensors.append(np.array(1000, np.int64))
    os.makedirs(tmp_path / "google")
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "google" / "bert_model.ckpt"), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=[tf.constant(t) for t in tensors])
    (tmp_path / "google" / "bert_config.json").write_text(json.dumps(
        {k: v for k, v in json.loads((TINY / "BertForMaskedLM" / "pt" / "config.json").read_text()).items()
         if k not in ("architectures", "model_type", "dtype", "transformers_version")}))
    assert_identical(load_state_dict(tmp_path / "google"), sd, "google-style checkpoint")
    plan = convert(tmp_path / "google" / "bert_model.ckpt", tmp_path / "pt", "pt", dry_run=True)
    skipped = {r.source for r in plan.rows if r.status == "skipped"}
    assert "global_step" in skipped and "bert/embeddings/word_embeddings/adam_m" in skipped
    assert plan.head == "BertForMaskedLM" and plan.count("mapped") == len(sd)
