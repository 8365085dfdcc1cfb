"""The TF name table, tf_model.h5 reading/writing, and transformers 4.57.6 loading what we write."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conversion import CheckpointError, load_state_dict
from conversion.formats import safetensors_format, tf_h5
from conversion.heads import infer_head
from conversion.names import tf as tf_names
from tests.conftest import HEADS, TINY
from tests.tf.helpers import legacy_transformers_tf_available, run_python


def _h5_names(path) -> set[str]:
    return set(tf_names._strip_model_name(k) for k in tf_h5.read_tf_names(str(path)))


@pytest.mark.parametrize("head", HEADS)
def test_table_and_h5_match_pytorch_fixture(head):
    """Reading transformers' tf_model.h5 gives exactly the PyTorch fixture; the table inverts on its names."""
    pt = safetensors_format.read(str(TINY / head / "pt"))
    sd = tf_h5.read(str(TINY / head / "tf" / "tf_model.h5"))
    assert sorted(sd) == sorted(pt)
    for name in pt:
        np.testing.assert_array_equal(sd[name], pt[name], err_msg=name)
    # Names alone cannot tell a causal LM from a masked LM, nor multiple choice from a one-label classifier.
    aliases = {"BertLMHeadModel": "BertForMaskedLM", "BertForMultipleChoice": "BertForSequenceClassification"}
    assert infer_head(None, pt) in (head, aliases.get(head, head))
    assert set(tf_names.schema_to_tf(pt, head)) == _h5_names(TINY / head / "tf" / "tf_model.h5")


def test_write_layout_and_roundtrip(tmp_path):
    head = "BertForPreTraining"
    sd = tf_h5.read(str(TINY / head / "tf"))
    assert tf_h5.write(sd, str(tmp_path)) == ["tf_model.h5"]  # head inferred from the keys
    with h5py.File(tmp_path / "tf_model.h5") as f, h5py.File(TINY / head / "tf" / "tf_model.h5") as ref:
        assert [str(x) for x in f.attrs["layer_names"].astype(str)] == ["bert", "nsp___cls", "mlm___cls"]
        assert f.attrs["backend"] in (b"tensorflow", "tensorflow")
        assert "keras_version" in f.attrs
        for layer in ("bert", "nsp___cls", "mlm___cls"):
            ours = sorted(f[layer].attrs["weight_names"].astype(str))
            theirs = sorted(ref[layer].attrs["weight_names"].astype(str))
            assert ours == theirs
    back = load_state_dict(str(tmp_path))
    assert sorted(back) == sorted(sd) and all(np.array_equal(back[k], sd[k]) for k in sd)


def test_shape_asserts():
    with pytest.raises(ValueError, match="2-D"):
        tf_names.tf_to_schema({"bert/pooler/dense/kernel": np.zeros(3)})
    with pytest.raises(ValueError, match="no place"):
        tf_names.schema_to_tf({"qa_outputs.weight": np.zeros((2, 4))}, head="BertModel")


def test_unbuilt_and_corrupt_files(tmp_path):
    empty = tmp_path / "unbuilt" / "tf_model.h5"
    empty.parent.mkdir()
    with h5py.File(empty, "w") as f:
        f.attrs["layer_names"] = np.asarray([], dtype="S1")
    with pytest.raises(CheckpointError, match="unbuilt"):
        tf_h5.read(str(empty))
    data = (TINY / "BertModel" / "tf" / "tf_model.h5").read_bytes()
    broken = tmp_path / "broken" / "tf_model.h5"
    broken.parent.mkdir()
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="tf_model.h5"):
        tf_h5.read(str(broken))


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        tf_h5.write({"qa_outputs.weight": np.zeros((2, 4)), "bogus.weight": np.zeros(3)}, str(tmp_path),
                    head="BertForQuestionAnswering")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not legacy_transformers_tf_available(), reason="transformers' TF classes need tf-keras")
def test_transformers_loads_our_h5(tmp_path, reference):
    """transformers 4.57.6 (Keras 2 via tf-keras) loads tf_model.h5 files we wrote and reproduces the fixtures."""
    heads = ["BertForPreTraining", "BertForSequenceClassification", "BertForQuestionAnswering", "BertModel"]
    for head in heads:
        folder = tmp_path / head
        tf_h5.write(safetensors_format.read(str(TINY / head / "pt")), str(folder), head=head)
        (folder / "config.json").write_text((TINY / head / "pt" / "config.json").read_text())
    code = f"""
import json, numpy as np, transformers
from tests.conftest import reference_inputs, REFERENCE_FIELDS, TINY
ref = dict(np.load(TINY / "reference_outputs.npz"))
result = {{}}
for head in {heads!r}:
    cls = getattr(transformers, "TF" + head)
    model, info = cls.from_pretrained({str(tmp_path)!r} + "/" + head, output_loading_info=True)
    out = model(**reference_inputs(ref, head))
    err = max(float(np.abs(np.asarray(out[f]) - ref[f"{{head}}.{{f}}"]).max()) for f in REFERENCE_FIELDS[head])
    result[head] = dict(err=err, missing=[k for k in info["missing_keys"] if "dropout" not in k],
                        unexpected=info["unexpected_keys"], mismatched=info["mismatched_keys"])
sharded = transformers.TFBertForPreTraining.from_pretrained({str(tmp_path)!r} + "/BertForPreTraining")
sharded.save_pretrained({str(tmp_path)!r} + "/sharded", max_shard_size="20KB")
print("RESULT" + json.dumps(result))
"""
    proc = run_python(code, {"TF_USE_LEGACY_KERAS": "1", "USE_TORCH": "0"})
    if proc.returncode != 0 and ("No module named" in proc.stderr or "tf_keras" in proc.stderr):
        pytest.skip(f"transformers' TF classes cannot run here: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    for head, r in result.items():
        assert r["err"] <= 1e-5, (head, r)
        assert not r["missing"] and not r["unexpected"] and not r["mismatched"], (head, r)
    # transformers' sharded TF save (index + shards with one dataset per weight) reads back to the same schema
    assert (tmp_path / "sharded" / "tf_model.h5.index.json").is_file()
    sharded = tf_h5.read(str(tmp_path / "sharded"))
    pt = safetensors_format.read(str(TINY / "BertForPreTraining" / "pt"))
    assert sorted(sharded) == sorted(pt) and all(np.array_equal(sharded[k], pt[k]) for k in pt)
