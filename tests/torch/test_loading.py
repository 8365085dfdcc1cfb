"""bert_torch.from_pretrained through the shared algorithm: fail fast and small, v4's keywords and results."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import bert_torch
from tests.loading_helpers import google_config, write_checkpoint


def _vocab_5m(folder):
    data = json.loads((folder / "config.json").read_text())
    data["vocab_size"] = 5_000_000
    (folder / "config.json").write_text(json.dumps(data))


def test_mismatch_is_a_runtime_error_raised_before_the_model_is_built(tmp_path, monkeypatch):
    write_checkpoint(tmp_path, "BertForMaskedLM")
    _vocab_5m(tmp_path)

    def built(*a, **k):
        raise AssertionError("the model was built before the config was checked against the checkpoint")

    monkeypatch.setattr(bert_torch.BertForMaskedLM, "__init__", built)
    with pytest.raises(RuntimeError, match=r"word_embeddings\.weight: \(99, 32\).*\(5000000, 32\)"):
        bert_torch.BertForMaskedLM.from_pretrained(tmp_path)


def test_peak_memory_stays_small_when_the_config_is_wrong(tmp_path):
    write_checkpoint(tmp_path, "BertForMaskedLM")
    _vocab_5m(tmp_path)
    code = textwrap.dedent(f"""
        import resource, bert_torch
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            bert_torch.BertForMaskedLM.from_pretrained({str(tmp_path)!r})
        except RuntimeError:
            pass
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    grown_mib = int(out.stdout.split()[-1])
    assert grown_mib < 100, f"peak memory grew by {grown_mib} MiB for an 85 KB checkpoint"


def test_google_classifier_with_three_labels(tmp_path):
    sd = write_checkpoint(tmp_path, "BertForSequenceClassification", num_labels=3, config_json=google_config())
    model = bert_torch.BertForSequenceClassification.from_pretrained(tmp_path)
    assert model.config.num_labels == 3 and model.classifier.weight.shape == (3, 32)
    assert np.array_equal(model.classifier.weight.detach().numpy(), sd["classifier.weight"])
    assert "num_labels=3" in model.load_report.summary()


def test_output_loading_info_and_keywords(tmp_path):
    write_checkpoint(tmp_path / "sub", "BertModel")
    model, info = bert_torch.BertForSequenceClassification.from_pretrained(
        tmp_path, subfolder="sub", output_loading_info=True, local_files_only=True, revision="main",
        trust_remote_code=False, low_cpu_mem_usage=True, use_safetensors=True, device_map={"": "cpu"},
        torch_dtype=torch.float16)
    assert set(info) == {"missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"}
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"] and info["error_msgs"] == []
    assert model.dtype == torch.float16 and model.device.type == "cpu" and not model.training
    model.save_pretrained(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert not {"subfolder", "device_map", "local_files_only", "revision", "use_safetensors"} & set(saved)
    assert bert_torch.BertModel.from_pretrained(tmp_path / "sub", device_map="auto").device.type in ("cpu", "cuda")


def test_unknown_keyword_is_a_type_error(tmp_path):
    write_checkpoint(tmp_path, "BertModel")
    with pytest.raises(TypeError, match="devise_map"):
        bert_torch.BertModel.from_pretrained(tmp_path, devise_map="cpu")
    with pytest.raises(ValueError, match="splits the model"):
        bert_torch.BertModel.from_pretrained(tmp_path, device_map={"embeddings": "cpu"})



@pytest.mark.parametrize("save_head, load_head", [("BertModel", "BertForMaskedLM"),
                                                  ("BertForMaskedLM", "BertModel")])
def test_save_load_through_the_base_model_prefix(tmp_path, save_head, load_head):
    write_checkpoint(tmp_path / "src", save_head)
    model = bert_torch.MODEL_CLASSES[save_head].from_pretrained(tmp_path / "src")
    model.save_pretrained(tmp_path / "dst")
    loaded = bert_torch.MODEL_CLASSES[load_head].from_pretrained(tmp_path / "dst")
    a, b = model.base_model.state_dict(), loaded.base_model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b if k in a) and len(set(a) & set(b)) > 10


def test_heads_not_dividing_hidden_size_is_refused_by_the_model():
    config = bert_torch.BertModel.config_class(hidden_size=30, num_attention_heads=4, num_hidden_layers=1)
    with pytest.raises(ValueError, match="divisible"):
        bert_torch.BertModel(config)
