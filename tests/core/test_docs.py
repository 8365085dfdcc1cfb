"""The docs site builds with warnings as errors (mkdocs --strict), API reference included."""

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    mkdocs = shutil.which("mkdocs", path=str(pathlib.Path(sys.executable).parent)) or "mkdocs"
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_api_reference_lists_every_config_field_with_its_default():
    from bert_core.config_fields import FIELDS

    text = (ROOT / "docs" / "api.md").read_text()
    for name, default in FIELDS:
        assert f"| `{name}` |" in text and f"| `{default!r}` |" in text.split(f"| `{name}` |", 1)[1].split("\n", 1)[0], name


def test_api_reference_lists_every_head_of_every_framework():
    from bert_core.heads import HEAD_TABLE

    text = (ROOT / "docs" / "api.md").read_text()
    for row in HEAD_TABLE:
        for package, framework in (("bert_torch", "pt"), ("bert_tf", "tf"), ("bert_flax", "flax")):
            assert f"::: {package}.modeling.{row.class_name(framework)}" in text


def test_snippet_extractor_sections_and_no_run(tmp_path):
    from tests.docs_snippets import python_blocks

    page = tmp_path / "page.md"
    page.write_text("x\n```python\na = 1\n```\n## TensorFlow\n```python\nb = 2\n```\n```bash\nls\n```\n"
                    "<!-- no-run -->\n```python\nskipped\n```\n## Flax\n```python\nc\n```\n")
    assert [code for _, code in python_blocks(page)] == ["a = 1\n", "b = 2\n", "c\n"]
    assert python_blocks(page, "TensorFlow") == [(7, "b = 2\n")]
