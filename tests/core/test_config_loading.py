"""The framework-free half of from_pretrained (conversion.pretrained.prepare), with no model class at all."""

import json

import numpy as np
import pytest

import conversion
from bert_core import BertConfig
from conversion.heads import infer_config_from_shapes
from conversion.pretrained import LOADING_KEYWORDS, ShapeMismatchError, check_tensors, prepare
from tests.loading_helpers import google_config, write_checkpoint


class FakeSequenceClassifier:
    head = "BertForSequenceClassification"


class FakeBase:
    head = "BertModel"


def test_config_that_disagrees_with_the_checkpoint_fails_before_any_model(tmp_path):
    write_checkpoint(tmp_path, "BertModel")
    data = json.loads((tmp_path / "config.json").read_text())
    data["vocab_size"] = 5_000_000
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ShapeMismatchError, match=r"word_embeddings\.weight: \(99, 32\).*\(5000000, 32\)") as e:
        prepare(FakeBase, tmp_path)
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, ValueError)  # torch's and TF/Flax's types
    assert "config.json" in str(e.value)
    prepared = prepare(FakeBase, tmp_path, ignore_mismatched_sizes=True)
    assert prepared.config.vocab_size == 5_000_000


def test_num_labels_inferred_from_a_google_classifier(tmp_path):
    write_checkpoint(tmp_path, "BertForSequenceClassification", num_labels=5, config_json=google_config())
    prepared = prepare(FakeSequenceClassifier, tmp_path)
    assert prepared.config.num_labels == 5 and len(prepared.config.id2label) == 5
    assert any("num_labels=5" in n and "classifier.weight" in n for n in prepared.notes)


def test_a_config_that_gives_labels_is_not_overridden(tmp_path):
    write_checkpoint(tmp_path, "BertForSequenceClassification", num_labels=5)
    with pytest.raises(ShapeMismatchError, match="classifier"):
        prepare(FakeSequenceClassifier, tmp_path, kwargs={"num_labels": 3})
    assert prepare(FakeSequenceClassifier, tmp_path).notes == []


def test_loading_keywords_are_consumed_and_unknown_ones_refused(tmp_path):
    write_checkpoint(tmp_path / "sub", "BertModel")
    kwargs = {"subfolder": "sub", "local_files_only": True, "revision": "main", "cache_dir": "/nowhere",
              "force_download": False, "token": None, "use_auth_token": None, "trust_remote_code": False,
              "from_pt": True, "from_tf": False, "from_flax": False, "low_cpu_mem_usage": True,
              "use_safetensors": True, "output_hidden_states": True}
    prepared = prepare(FakeBase, tmp_path, kwargs=kwargs)
    saved = prepared.config.to_dict()
    assert prepared.config.output_hidden_states is True
    assert not set(saved) & (set(kwargs) - {"output_hidden_states"})
    with pytest.raises(TypeError, match="devise_map"):
        prepare(FakeBase, tmp_path / "sub", kwargs={"devise_map": "cpu"})
    assert "subfolder" in LOADING_KEYWORDS and "devise_map" not in LOADING_KEYWORDS
    with pytest.raises(FileNotFoundError, match="local_files_only"):
        prepare(FakeBase, tmp_path / "missing", kwargs={"local_files_only": True})


def test_tensor_checks_refuse_integers_and_non_arrays():
    check_tensors({"a": np.zeros(2, np.float16), "b": np.zeros((2, 2), np.float32)})
    with pytest.raises(conversion.CheckpointError, match=r"a \(ndarray of dtype int64\)"):
        check_tensors({"a": np.zeros(2, np.int64)})
    with pytest.raises(conversion.CheckpointError, match="b"):
        check_tensors({"b": [1.0, 2.0]})
    head = "BertForSequenceClassification"
    inferred, notes = infer_config_from_shapes(BertConfig(), {"classifier.weight": (7, 4)}, head, labels_given=False)
    assert inferred.num_labels == 7 and notes
    assert infer_config_from_shapes(BertConfig(), {"classifier.weight": (7, 4)}, head, labels_given=True)[0].num_labels == 2
    assert infer_config_from_shapes(BertConfig(), {}, head, labels_given=False)[0].num_labels == 2


def test_config_object_and_config_path(tmp_path):
    write_checkpoint(tmp_path, "BertModel")
    config = BertConfig.from_pretrained(tmp_path)
    assert prepare(FakeBase, tmp_path, config=config).config == config
    assert prepare(FakeBase, tmp_path, config=str(tmp_path / "config.json")).config == config
    with pytest.raises(TypeError, match="config must be"):
        prepare(FakeBase, tmp_path, config={"vocab_size": 99})
