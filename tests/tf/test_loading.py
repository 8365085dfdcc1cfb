"""bert_tf.from_pretrained through the shared algorithm: load_report, num_labels, checks, keywords."""

import json

import numpy as np
import pytest

import bert_tf
from tests.loading_helpers import google_config, write_checkpoint


def test_mismatch_raises_before_the_model_is_built(tmp_path, monkeypatch):
    write_checkpoint(tmp_path, "BertForMaskedLM")
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "vocab_size": 5_000_000}))

    def built(*a, **k):
        raise AssertionError("the model was built before the config was checked against the checkpoint")

    monkeypatch.setattr(bert_tf.TFBertForMaskedLM, "__init__", built)
    with pytest.raises(ValueError, match=r"word_embeddings\.weight: \(99, 32\).*\(5000000, 32\)"):
        bert_tf.TFBertForMaskedLM.from_pretrained(tmp_path)


def test_load_report_and_google_classifier_labels(tmp_path):
    sd = write_checkpoint(tmp_path, "BertForSequenceClassification", num_labels=4, config_json=google_config())
    model = bert_tf.TFBertForSequenceClassification.from_pretrained(tmp_path)
    assert model.config.num_labels == 4 and "num_labels=4" in model.load_report.summary()
    assert not model.load_report.missing and not model.load_report.unexpected
    np.testing.assert_array_equal(model.schema_state_dict()["classifier.weight"], sd["classifier.weight"])


def test_output_loading_info_keywords_and_unknown_keyword(tmp_path):
    write_checkpoint(tmp_path / "sub", "BertModel")
    model, info = bert_tf.TFBertForSequenceClassification.from_pretrained(
        tmp_path, subfolder="sub", output_loading_info=True, from_pt=True, local_files_only=True, cache_dir="x")
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"] and info["error_msgs"] == []
    assert model.load_report.missing == info["missing_keys"]
    with pytest.raises(TypeError, match="devise_map"):
        bert_tf.TFBertModel.from_pretrained(tmp_path / "sub", devise_map="cpu")



@pytest.mark.parametrize("save_head, load_head", [("BertModel", "BertForMaskedLM"),
                                                  ("BertForMaskedLM", "BertModel")])
def test_save_load_through_the_base_model_prefix(tmp_path, save_head, load_head):
    sd = write_checkpoint(tmp_path / "src", save_head)
    cls = {"BertModel": bert_tf.TFBertModel, "BertForMaskedLM": bert_tf.TFBertForMaskedLM}
    cls[save_head].from_pretrained(tmp_path / "src").save_pretrained(tmp_path / "dst")
    loaded = cls[load_head].from_pretrained(tmp_path / "dst").schema_state_dict()
    word = "embeddings.word_embeddings.weight"
    src = sd.get(word, sd.get("bert." + word))
    np.testing.assert_array_equal(loaded.get(word, loaded.get("bert." + word)), src)


def test_heads_not_dividing_hidden_size_is_refused_by_the_model():
    from bert_core import BertConfig

    with pytest.raises(ValueError, match="divisible"):
        bert_tf.TFBertModel(BertConfig(hidden_size=30, num_attention_heads=4, num_hidden_layers=1))
