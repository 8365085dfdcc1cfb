"""BertConfig behaves as transformers v4's PretrainedConfig (the checks of v4's ConfigTester, on BertConfig)."""

import copy
import json

import pytest

from bert_core import BertConfig

INPUTS = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
              hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
              max_position_embeddings=512, type_vocab_size=16, initializer_range=0.02)
# transformers' config_common_kwargs (tests/test_configuration_common.py), less "dtype" (a torch.dtype there).
COMMON = {
    "return_dict": False, "output_hidden_states": True, "output_attentions": True, "tie_word_embeddings": False,
    "is_decoder": True, "cross_attention_hidden_size": 128, "add_cross_attention": True, "tie_encoder_decoder": True,
    "max_length": 50, "min_length": 3, "do_sample": True, "early_stopping": True, "num_beams": 3,
    "num_beam_groups": 3, "diversity_penalty": 0.5, "temperature": 2.0, "top_k": 10, "top_p": 0.7, "typical_p": 0.2,
    "repetition_penalty": 0.8, "length_penalty": 0.8, "no_repeat_ngram_size": 5, "encoder_no_repeat_ngram_size": 5,
    "bad_words_ids": [1, 2, 3], "num_return_sequences": 3, "chunk_size_feed_forward": 5, "output_scores": True,
    "return_dict_in_generate": True, "forced_bos_token_id": 2, "forced_eos_token_id": 3,
    "remove_invalid_values": True, "architectures": ["BertModel"], "finetuning_task": "translation",
    "id2label": {0: "label"}, "label2id": {"label": 0}, "tokenizer_class": "BertTokenizerFast", "prefix": "prefix",
    "bos_token_id": 6, "pad_token_id": 7, "eos_token_id": 8, "sep_token_id": 9, "decoder_start_token_id": 10,
    "exponential_decay_length_penalty": (5, 1.01), "suppress_tokens": [0, 1], "begin_suppress_tokens": 2,
    "task_specific_params": {"translation": "some_params"}, "problem_type": "regression",
}


def test_common_properties_get_and_set():
    config = BertConfig(**INPUTS)
    for idx, name in enumerate(("hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size"), 1):
        setattr(config, name, idx)
        assert getattr(config, name) == idx and getattr(BertConfig(**{name: idx * 4}), name) == idx * 4


def test_to_json_string_file_and_pretrained_round_trips(tmp_path):
    config = BertConfig(**INPUTS)
    obj = json.loads(config.to_json_string())
    assert all(obj[k] == v for k, v in INPUTS.items())
    config.to_json_file(tmp_path / "c.json")
    assert BertConfig.from_json_file(tmp_path / "c.json").to_dict() == config.to_dict()
    config.save_pretrained(tmp_path / "test")
    assert BertConfig.from_pretrained(tmp_path, subfolder="test").to_dict() == config.to_dict()
    with pytest.raises(OSError):
        BertConfig.from_pretrained(f".{tmp_path}")


def test_num_labels_rebuilds_labels_and_init_without_params():
    config = BertConfig(**INPUTS, num_labels=5)
    assert len(config.id2label) == len(config.label2id) == 5
    config.num_labels = 3
    assert len(config.id2label) == len(config.label2id) == 3 and set(config.id2label) == {0, 1, 2}
    assert BertConfig() is not None


def test_common_kwargs_are_all_set():
    config = BertConfig(**copy.deepcopy(COMMON))
    wrong = [(k, getattr(config, k), v) for k, v in COMMON.items() if getattr(config, k) != v]
    assert not wrong


def test_extra_kwargs_and_later_attributes_are_saved(tmp_path):
    config = BertConfig(my_flag=True, num_beams=4)
    assert config.my_flag is True and config.num_beams == 4
    config.added_later = [1, 2]
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["my_flag"] is True and saved["num_beams"] == 4 and saved["added_later"] == [1, 2]
    again = BertConfig.from_pretrained(tmp_path)
    assert again.added_later == [1, 2] and again == config


def test_v4_attributes_and_diff_dict():
    config = BertConfig()
    assert config.get_text_config() is config and config.is_encoder_decoder is False
    assert config.torchscript is False and config.sub_configs == {} and "torchscript" not in config.to_dict()
    config.torchscript = True
    assert config.to_dict()["torchscript"] is True and config.to_diff_dict()["torchscript"] is True
    diff = BertConfig(output_attentions=False, vocab_size=30522).to_diff_dict()
    assert "output_attentions" not in diff and diff["vocab_size"] == 30522 and diff["model_type"] == "bert"
    assert "vocab_size" in list(config)


def test_from_pretrained_kwargs_as_transformers(tmp_path):
    BertConfig().save_pretrained(tmp_path)
    config, unused = BertConfig.from_pretrained(tmp_path, return_unused_kwargs=True, hidden_act="relu",
                                                foo="bar", revision="main", cache_dir="x")
    assert config.hidden_act == "relu" and unused == {"foo": "bar"} and not hasattr(config, "revision")
