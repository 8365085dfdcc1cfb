"""Config values that cannot describe a model are refused when the config is built, and bad files are named."""

import math

import pytest

from bert_core import BertConfig, ConfigError


@pytest.mark.parametrize("field, value", [
    ("layer_norm_eps", math.nan), ("layer_norm_eps", math.inf), ("layer_norm_eps", 0.0), ("layer_norm_eps", -1e-12),
    ("initializer_range", math.nan), ("initializer_range", -0.02), ("initializer_range", math.inf),
    ("hidden_dropout_prob", math.nan), ("attention_probs_dropout_prob", -0.1), ("classifier_dropout", math.nan),
    ("layer_norm_eps", True), ("initializer_range", "0.02"),
])
def test_float_fields_must_be_finite_and_in_range(field, value):
    with pytest.raises(ConfigError, match=field):
        BertConfig(**{field: value})


def test_valid_floats_pass():
    c = BertConfig(layer_norm_eps=1e-5, initializer_range=0.0, hidden_dropout_prob=0, classifier_dropout=0.5)
    assert c.layer_norm_eps == 1e-5 and c.initializer_range == 0.0


def test_nan_in_a_config_file_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"layer_norm_eps": NaN}')
    with pytest.raises(ConfigError, match="layer_norm_eps"):
        BertConfig.from_pretrained(tmp_path)


def test_non_utf8_config_names_the_file(tmp_path):
    (tmp_path / "config.json").write_bytes(b'{"hidden_act": "g\xe9lu"}')
    with pytest.raises(ConfigError, match=r"config\.json.*UTF-8"):
        BertConfig.from_pretrained(tmp_path)


def test_truncated_config_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text('{"vocab_size": 30522, "hidden_si')
    with pytest.raises(ConfigError, match=r"config\.json is not valid JSON.*truncated"):
        BertConfig.from_pretrained(tmp_path)
