"""bert_flax.from_pretrained through the shared algorithm: fail fast, num_labels, checks, v4's return values."""

import json

import numpy as np
import pytest

import bert_flax
from tests.loading_helpers import google_config, write_checkpoint


def test_mismatch_raises_before_the_model_is_built(tmp_path, monkeypatch):
    write_checkpoint(tmp_path, "BertForMaskedLM", fmt="flax")
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "vocab_size": 5_000_000}))

    def built(*a, **k):
        raise AssertionError("the model was built before the config was checked against the checkpoint")

    monkeypatch.setattr(bert_flax.FlaxBertForMaskedLM, "__init__", built)
    with pytest.raises(ValueError, match=r"word_embeddings\.weight: \(99, 32\).*\(5000000, 32\)"):
        bert_flax.FlaxBertForMaskedLM.from_pretrained(tmp_path)


def test_google_classifier_labels_and_do_init(tmp_path):
    sd = write_checkpoint(tmp_path, "BertForSequenceClassification", num_labels=6, config_json=google_config())
    model = bert_flax.FlaxBertForSequenceClassification.from_pretrained(tmp_path)
    assert model.config.num_labels == 6 and "num_labels=6" in model.load_report.summary()
    np.testing.assert_array_equal(model.schema_state_dict()["classifier.weight"], sd["classifier.weight"])
    model, params = bert_flax.FlaxBertForSequenceClassification.from_pretrained(tmp_path, _do_init=False)
    assert isinstance(params, dict) and model.schema_state_dict(params)["classifier.weight"].shape == (6, 32)


def test_output_loading_info_keywords_and_unknown_keyword(tmp_path):
    write_checkpoint(tmp_path / "sub", "BertModel")
    model, info = bert_flax.FlaxBertForSequenceClassification.from_pretrained(
        tmp_path, subfolder="sub", output_loading_info=True, from_pt=True, revision="main", token=None)
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"] and info["error_msgs"] == []
    with pytest.raises(TypeError, match="devise_map"):
        bert_flax.FlaxBertModel.from_pretrained(tmp_path / "sub", devise_map="cpu")



@pytest.mark.parametrize("save_head, load_head", [("BertModel", "BertForMaskedLM"),
                                                  ("BertForMaskedLM", "BertModel")])
def test_save_load_from_and_to_base(tmp_path, save_head, load_head):
    sd = write_checkpoint(tmp_path / "src", save_head, fmt="flax")
    cls = {"BertModel": bert_flax.FlaxBertModel, "BertForMaskedLM": bert_flax.FlaxBertForMaskedLM}
    cls[save_head].from_pretrained(tmp_path / "src").save_pretrained(tmp_path / "dst")
    loaded = cls[load_head].from_pretrained(tmp_path / "dst").schema_state_dict()
    word = "embeddings.word_embeddings.weight"
    np.testing.assert_array_equal(loaded.get(word, loaded.get("bert." + word)), sd.get(word, sd.get("bert." + word)))
