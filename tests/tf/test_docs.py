"""Every ```python block of docs/tf.md and of the TensorFlow section of docs/migrating.md runs as written.

The blocks of a page run in order in one namespace, as a reader pastes them (``tests.docs_snippets``, shared with
the Flax page), in a fresh folder holding ``my-model``: a tiny pre-training checkpoint (config.json +
tf_model.h5) with its tokenizer, built from a config, so nothing is downloaded.
"""

from __future__ import annotations

import pathlib

import keras
import pytest

from tests.docs_snippets import python_blocks, run_python_blocks
from tests.tf.helpers import WORDS

DOCS = pathlib.Path(__file__).parents[2] / "docs"


def make_model_folder(folder: pathlib.Path) -> None:
    import bert_tf
    from bert_core import BertConfig, BertTokenizer

    config = BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)
    keras.utils.set_random_seed(0)
    bert_tf.TFBertForPreTraining(config).save_pretrained(folder)
    vocab = folder.parent / "vocab.txt"
    vocab.write_text("\n".join(WORDS) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(folder)


def run_page(page: pathlib.Path, where: pathlib.Path, monkeypatch, section: str | None = None) -> None:
    """The page's blocks (one section's if given) in ``where``, next to a tiny ``my-model`` folder."""
    assert python_blocks(page, section)
    monkeypatch.chdir(where)
    make_model_folder(where / "my-model")
    run_python_blocks(page, section=section)


def test_migrating_tensorflow_section_runs(tmp_path, monkeypatch):
    run_page(DOCS / "migrating.md", tmp_path, monkeypatch, section="TensorFlow")


@pytest.mark.slow
def test_tf_page_runs(tmp_path, monkeypatch):
    assert len(python_blocks(DOCS / "tf.md")) >= 8
    run_page(DOCS / "tf.md", tmp_path, monkeypatch)
