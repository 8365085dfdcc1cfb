"""Every ```python block of docs/tf.md and of the TensorFlow section of docs/migrating.md runs as written.

The blocks of a page run in order in one namespace (as a reader pastes them), in a fresh folder holding
``my-model``: a tiny pre-training checkpoint (config.json + tf_model.h5) with its tokenizer, built from a config,
so nothing is downloaded.
"""

from __future__ import annotations

import pathlib
import re

import keras
import pytest

from tests.tf.helpers import WORDS

DOCS = pathlib.Path(__file__).parents[2] / "docs"


def python_blocks(text: str, section: str | None = None) -> list[str]:
    """The ```python blocks of a markdown text (only those under the ``## <section>`` heading if given)."""
    if section is not None:
        start = text.index(f"\n## {section}\n")
        end = text.find("\n## ", start + 1)
        text = text[start:end if end != -1 else len(text)]
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


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


def run_blocks(blocks: list[str], where: pathlib.Path, monkeypatch) -> None:
    monkeypatch.chdir(where)
    make_model_folder(where / "my-model")
    namespace: dict = {"__name__": "__docs__"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"<block {i}>", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"block {i} failed ({type(e).__name__}: {e}):\n{block}") from e


def test_extractor():
    text = ("x\n```python\na = 1\n```\n## TensorFlow\n```python\nb = 2\n```\n```bash\nls\n```\n"
            "## Flax\n```python\nc\n```\n")
    assert python_blocks(text) == ["a = 1\n", "b = 2\n", "c\n"]
    assert python_blocks(text, "TensorFlow") == ["b = 2\n"]


def test_migrating_tensorflow_section_runs(tmp_path, monkeypatch):
    blocks = python_blocks((DOCS / "migrating.md").read_text(), "TensorFlow")
    assert blocks
    run_blocks(blocks, tmp_path, monkeypatch)


@pytest.mark.slow
def test_tf_page_runs(tmp_path, monkeypatch):
    blocks = python_blocks((DOCS / "tf.md").read_text())
    assert len(blocks) >= 8
    run_blocks(blocks, tmp_path, monkeypatch)
