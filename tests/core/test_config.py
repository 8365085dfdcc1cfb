import json

import pytest

from bert_core import BertConfig, ConfigError
from tests.conftest import FIXTURES, TINY


def test_defaults_match_transformers():
    c = BertConfig()
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads) == (30522, 768, 12, 12)
    assert c.intermediate_size == 3072 and c.hidden_act == "gelu" and c.layer_norm_eps == 1e-12
    assert c.position_embedding_type == "absolute" and c.attn_implementation == "eager"
    assert c.num_labels == 2 and c.id2label == {0: "LABEL_0", 1: "LABEL_1"} and c.tie_word_embeddings


@pytest.mark.parametrize("head", ["BertForSequenceClassification", "BertLMHeadModel", "BertModel"])
def test_transformers_config_round_trip_keeps_every_key(tmp_path, head):
    src = TINY / head / "pt" / "config.json"
    original = json.loads(src.read_text())
    config = BertConfig.from_pretrained(src.parent)
    config.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    for key, value in original.items():
        assert key in written, key
        assert written[key] == value, key
    assert BertConfig.from_pretrained(tmp_path) == config


def test_unknown_keys_survive(tmp_path):
    config = BertConfig.from_dict({"hidden_size": 64, "num_attention_heads": 4, "my_custom_key": [1, 2]})
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["my_custom_key"] == [1, 2]
    assert BertConfig.from_pretrained(tmp_path / "config.json").extra["my_custom_key"] == [1, 2]


def test_minilm_and_google_config(tmp_path):
    c = BertConfig.from_pretrained(FIXTURES / "minilm-tokenizer")
    assert c.hidden_size == 384 and c.num_hidden_layers == 6
    google = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
              "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 12,
              "type_vocab_size": 2, "vocab_size": 30522}
    (tmp_path / "bert_config.json").write_text(json.dumps(google))
    assert BertConfig.from_pretrained(tmp_path).hidden_size == 768


@pytest.mark.parametrize("kwargs, fragment", [
    ({"vocab_size": 0}, "vocab_size"),
    ({"num_hidden_layers": -1}, "num_hidden_layers"),
    ({"hidden_act": "gelu2"}, "hidden_act"),
    ({"position_embedding_type": "rotary"}, "position_embedding_type"),
    ({"attn_implementation": "flash"}, "attn_implementation"),
    ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
    ({"classifier_dropout": -0.1}, "classifier_dropout"),
    ({"num_labels": 3, "id2label": {0: "a", 1: "b"}}, "num_labels"),
    ({"problem_type": "ranking"}, "problem_type"),
])
def test_validation_errors_name_the_field(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        BertConfig(**kwargs)


def test_divisibility_is_checked_when_a_model_is_built_as_in_transformers():
    config = BertConfig(hidden_size=30, num_attention_heads=4)  # transformers' configs accept it
    with pytest.raises(ConfigError, match="divisible"):
        config.validate_for_model()


def test_labels_and_repr():
    c = BertConfig(id2label={"0": "neg", "1": "pos", "2": "neutral"})
    assert c.num_labels == 3 and c.label2id == {"neg": 0, "pos": 1, "neutral": 2}
    c.num_labels = 5
    assert len(c.label2id) == 5
    assert "num_labels=5" in repr(c)
    assert c.copy(hidden_size=64, num_attention_heads=4).hidden_size == 64


def test_missing_config_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        BertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        BertConfig.from_pretrained(tmp_path)


def test_num_labels_override_resets_labels():
    config = BertConfig.from_pretrained(TINY / "BertForSequenceClassification" / "pt", num_labels=5)
    assert config.num_labels == 5 and config.id2label[4] == "LABEL_4" and config.label2id["LABEL_4"] == 4


def test_dtype_is_one_field_and_model_type_is_checked():
    c = BertConfig(dtype="float32")
    assert c.torch_dtype == "float32"
    c.torch_dtype = "float16"
    assert c.to_dict()["dtype"] == "float16" == c.to_dict()["torch_dtype"]
    assert BertConfig(attn_implementation="sdpa", _attn_implementation="eager").attn_implementation == "sdpa"
    assert BertConfig(_attn_implementation="sdpa").attn_implementation == "sdpa"
    with pytest.raises(ConfigError, match="distilbert"):
        BertConfig(model_type="distilbert", dim=768)
