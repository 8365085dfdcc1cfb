"""Every ```python block of docs/flax.md runs as written (tiny models, offline)."""

import pathlib

import pytest

from tests.docs_snippets import python_blocks, run_python_blocks

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "flax.md"


def test_page_has_the_fine_tuning_example():
    codes = [code for _, code in python_blocks(PAGE)]
    assert any("jax.pmap" in code and "optax" in code for code in codes)


@pytest.mark.slow
def test_flax_docs_blocks_run(tmp_path, monkeypatch):
    pytest.importorskip("optax")
    pytest.importorskip("torch")  # the conversion example loads the saved model into bert_torch
    monkeypatch.chdir(tmp_path)  # the examples write ./tiny-bert
    namespace = run_python_blocks(PAGE)
    assert namespace["accuracy"] > 0.9
