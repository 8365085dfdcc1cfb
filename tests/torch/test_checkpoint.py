"""Schema mapping, from_pretrained / save_pretrained: exact round trips, shards, mismatches, prefixes."""

import json
import logging
import os

import numpy as np
import pytest
import torch

import bert_torch
import conversion
from bert_core import HEADS
from bert_torch.checkpoint import parse_size
from tests.conftest import TINY
from tests.torch.helpers import tiny_config, torch_inputs


def _build(head, **overrides):
    if head == "BertForQuestionAnswering":
        overrides.setdefault("num_labels", 2)
    return bert_torch.MODEL_CLASSES[head](tiny_config(**overrides), seed=1).eval()


def _assert_identical(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name].dtype == sb[name].dtype and torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("head", HEADS)
def test_save_load_round_trip_is_exact(head, tmp_path):
    model = _build(head)
    files = model.save_pretrained(tmp_path)
    assert files == ["config.json", "model.safetensors"]
    loaded = bert_torch.MODEL_CLASSES[head].from_pretrained(tmp_path)
    _assert_identical(model, loaded)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == [head]
    assert loaded.weights_tied() == model.weights_tied()


def test_schema_omits_tied_decoder_and_decoder_bias():
    model = _build("BertForMaskedLM")
    sd = model.schema_state_dict()
    assert "cls.predictions.decoder.weight" not in sd and "cls.predictions.decoder.bias" not in sd
    assert "cls.predictions.bias" in sd and "bert.embeddings.word_embeddings.weight" in sd
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    untied = _build("BertForMaskedLM", tie_word_embeddings=False)
    sd = untied.schema_state_dict()
    assert "cls.predictions.decoder.weight" in sd and "cls.predictions.decoder.bias" not in sd


def test_untied_round_trip(tmp_path):
    model = _build("BertForPreTraining", tie_word_embeddings=False)
    with torch.no_grad():
        model.cls.predictions.decoder.weight.add_(1.0)
    model.save_pretrained(tmp_path)
    loaded = bert_torch.BertForPreTraining.from_pretrained(tmp_path)
    assert not loaded.weights_tied()
    _assert_identical(model, loaded)


def test_sharded_save_and_load(tmp_path):
    model = _build("BertForMaskedLM")
    files = model.save_pretrained(tmp_path, max_shard_size="20KB")
    shards = [f for f in files if f.startswith("model-")]
    assert len(shards) > 2 and "model.safetensors.index.json" in files
    assert not (tmp_path / "model.safetensors").exists()
    _assert_identical(model, bert_torch.BertForMaskedLM.from_pretrained(tmp_path))
    # saving unsharded again removes the old shards and index, so the folder holds one checkpoint
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    _assert_identical(model, bert_torch.BertForMaskedLM.from_pretrained(tmp_path))


def test_parse_size():
    assert parse_size("5GB") == 5 * 10**9 and parse_size("200MB") == 2 * 10**8
    assert parse_size("1MiB") == 2**20 and parse_size(1234) == 1234 and parse_size(None) is None
    with pytest.raises(ValueError, match="max_shard_size"):
        parse_size("lots")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_round_trip(dtype, tmp_path):
    model = bert_torch.BertForMaskedLM(tiny_config(), torch_dtype=dtype, seed=0)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["torch_dtype"] == str(dtype)[6:]
    same = bert_torch.BertForMaskedLM.from_pretrained(tmp_path, torch_dtype="auto")
    _assert_identical(model, same)
    assert bert_torch.BertForMaskedLM.from_pretrained(tmp_path).dtype == torch.float32


def test_shape_mismatch_names_the_tensor(tmp_path):
    _build("BertForSequenceClassification").save_pretrained(tmp_path)
    with pytest.raises(conversion.WeightMismatchError, match=r"classifier\.weight: \(3, 32\).*\(5, 32\)"):
        bert_torch.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    model = bert_torch.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=5,
                                                                     ignore_mismatched_sizes=True)
    assert model.classifier.weight.shape == (5, 32)
    assert sorted(n for n, _, _ in model.load_report.mismatched) == ["classifier.bias", "classifier.weight"]


def test_base_checkpoint_into_head_model(tmp_path, caplog):
    base = _build("BertModel")
    base.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="bert_torch"):
        head = bert_torch.BertForSequenceClassification.from_pretrained(tmp_path)
    assert "classifier.weight" in caplog.text and "newly initialised" in caplog.text
    assert head.load_report.missing == ["classifier.bias", "classifier.weight"]
    for name, value in base.state_dict().items():
        assert torch.equal(head.state_dict()["bert." + name], value), name


def test_head_checkpoint_into_base_model(tmp_path, caplog):
    head = _build("BertForPreTraining")
    head.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="bert_torch"):
        base = bert_torch.BertModel.from_pretrained(tmp_path)
    assert "not used" in caplog.text and "cls.seq_relationship.weight" in caplog.text
    assert not base.load_report.missing
    for name, value in base.state_dict().items():
        assert torch.equal(head.state_dict()["bert." + name], value), name


def test_load_schema_state_dict_report_and_legacy_names():
    model = _build("BertModel")
    sd = model.schema_state_dict()
    sd["embeddings.LayerNorm.gamma"] = sd.pop("embeddings.LayerNorm.weight") * 2
    sd.pop("pooler.dense.bias")
    sd["extra.thing"] = np.zeros(3, np.float32)
    other = bert_torch.BertModel(tiny_config(), seed=5)
    report = other.load_schema_state_dict(sd)
    assert report.missing == ["pooler.dense.bias"] and report.unexpected == ["extra.thing"]
    assert torch.equal(other.embeddings.LayerNorm.weight, model.embeddings.LayerNorm.weight * 2)


def test_fixture_loads_with_the_same_outputs_after_resave(reference, tmp_path):
    model = bert_torch.BertForPreTraining.from_pretrained(TINY / "BertForPreTraining" / "pt")
    model.save_pretrained(tmp_path)
    again = bert_torch.BertForPreTraining.from_pretrained(tmp_path)
    inputs = torch_inputs()
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).prediction_logits, again(**inputs).prediction_logits,
                                   rtol=0, atol=0)


def test_failed_save_leaves_folder_as_it_was(tmp_path, monkeypatch):
    model = _build("BertModel")
    model.save_pretrained(tmp_path)
    before = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(conversion, "save_state_dict", boom)
    with pytest.raises(OSError, match="disk full"):
        bert_torch.BertModel(tiny_config(), seed=9).save_pretrained(tmp_path)
    assert {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)} == before


def test_missing_folder_and_bad_format_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        bert_torch.BertModel.from_pretrained(tmp_path / "nowhere")
    tiny_config().save_pretrained(tmp_path)
    with pytest.raises(conversion.CheckpointError, match="holds no checkpoint"):
        bert_torch.BertModel.from_pretrained(tmp_path)


def test_dtype_alias_of_torch_dtype(tmp_path):
    _build("BertModel").save_pretrained(tmp_path)
    model = bert_torch.BertModel.from_pretrained(tmp_path, dtype=torch.float16)
    assert model.dtype == torch.float16 and model.config.torch_dtype == "float32"
