"""transformers v4's Auto classes: each builds its head in its framework from a folder or a config."""

from __future__ import annotations

import json
import shutil

import pytest

from bert_core.auto import AutoConfig, AutoTokenizer
from bert_core.heads import HEAD_TABLE
from tests.conftest import TINY, require

PACKAGES = {"pt": ("bert_torch", ""), "tf": ("bert_tf", "TF"), "flax": ("bert_flax", "Flax")}


@pytest.mark.parametrize("framework", sorted(PACKAGES))
def test_every_auto_class_builds_its_head(framework):
    package, prefix = PACKAGES[framework]
    auto = require(f"{package}.auto")
    for row in HEAD_TABLE:
        cls = getattr(auto, prefix + row.auto_name)
        model = cls.from_pretrained(TINY / row.name / "pt")
        assert type(model).__name__ == row.class_name(framework)
        assert type(cls.from_config(model.config)).__name__ == row.class_name(framework)
        with pytest.raises(EnvironmentError, match="from_pretrained"):
            cls()


def test_torch_package_exports_them():
    torch_pkg = require("bert_torch")
    assert torch_pkg.AutoModelForMaskedLM.from_pretrained(TINY / "BertForMaskedLM" / "pt").__class__ is \
        torch_pkg.BertForMaskedLM


def test_auto_config_and_tokenizer(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(TINY / "BertForMaskedLM" / "pt", folder)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"w{i}" for i in range(94))]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")  # 99 tokens, as the config says
    assert AutoConfig.from_pretrained(folder).model_type == "bert"
    assert type(AutoTokenizer.from_pretrained(folder)).__name__ == "BertTokenizerFast"
    assert type(AutoTokenizer.from_pretrained(folder, use_fast=False)).__name__ == "BertTokenizer"
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    with pytest.raises(ValueError, match="GPT2Tokenizer"):
        AutoTokenizer.from_pretrained(folder)


def test_another_model_type_is_a_clear_error(tmp_path):
    folder = tmp_path / "roberta"
    shutil.copytree(TINY / "BertModel" / "pt", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(ValueError, match="roberta"):
        AutoConfig.from_pretrained(folder)
    with pytest.raises(ValueError, match="bert"):
        AutoConfig.for_model("gpt2")
