"""Tiny model folders for pipeline tests: the fixture weights (vocab 99) with a matching 99-token vocabulary."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import TINY

WORDS = ("the a an is of to and in on at it he she they was are be this that what where who paris france "
         "capital city tower eiffel man woman cat dog eat eats food horse ride rides movie good bad music "
         "play plays red blue green big small john mary london york new river sea sun moon day night time "
         "year work home house car road tree bird fish love like see say go come run walk read book "
         "question answer song hello world sky").split()
PIECES = ("##s", "##ing", "##ed", ".", ",", "?", "!", "'")
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCAB = (*SPECIALS, *PIECES, *WORDS)[:99]
assert len(VOCAB) == 99 and len(set(VOCAB)) == 99, len(VOCAB)


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory):
    """``{head: folder}`` holding config.json, model.safetensors and a 99-token vocab.txt."""
    root = tmp_path_factory.mktemp("pipeline-models")
    dirs = {}
    for head in ("BertModel", "BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification",
                 "BertForQuestionAnswering"):
        folder = root / head
        shutil.copytree(TINY / head / "pt", folder)
        (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
        (folder / "tokenizer_config.json").write_text('{"do_lower_case": true, "model_max_length": 64}')
        dirs[head] = str(folder)
    return dirs
