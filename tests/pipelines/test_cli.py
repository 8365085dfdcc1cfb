"""The bertzoo command line: --help everywhere, run on stdin, the offline message, README examples."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import require

from bertzoo.cli import build_parser, main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _bertzoo(*args, stdin="", env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "bertzoo.cli", *args], input=stdin, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)


def test_help_on_every_command(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them here
    assert {"run", "demo"} <= set(commands)
    for name in [None, *commands]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--help"] if name is None else [name, "--help"])
        assert exit_info.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_run_fill_mask_reads_stdin_and_prints_json_lines(tiny_model_dirs):
    require("bert_torch")
    result = _bertzoo("run", "--task", "fill-mask", "--model", tiny_model_dirs["BertForMaskedLM"], "--top-k", "2",
                      stdin="paris is the [MASK] of france.\nthe [MASK] eats food.\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and len(lines[0]) == 2 and {"score", "token_str", "sequence"} <= lines[0][0].keys()


def test_model_that_is_not_a_folder_offline_says_what_to_do(tmp_path):
    result = _bertzoo("run", "--task", "fill-mask", "--model", "some-org/not-here", stdin="x [MASK]\n",
                      env={"HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "not a local folder" in result.stderr and "--model" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_cli_examples_run_as_written(tiny_model_dirs, tmp_path):
    """The README's bertzoo block, run with ./my-bert being a tiny model."""
    require("bert_torch")
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", readme, re.S) if "bertzoo convert" in b)
    shutil.copytree(tiny_model_dirs["BertForMaskedLM"], tmp_path / "my-bert")
    frameworks = [f for f, m in (("pt", "torch"), ("tf", "tensorflow"), ("flax", "flax"))
                  if __import__("importlib").util.find_spec(m)]
    for line in block.strip().splitlines():
        command = line.split("#")[0].strip().replace("pt,tf,flax", ",".join(frameworks))
        env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
        result = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, env=env,
                                timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"


def test_docs_cli_examples_run_as_written(tiny_model_dirs, tmp_path):
    """Every bertzoo line in docs/cli.md's bash blocks, with FOLDER being a tiny masked-LM folder."""
    require("bert_torch")
    text = (ROOT / "docs" / "cli.md").read_text()
    lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()
             if "bertzoo" in line]
    assert lines
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
    for line in lines:
        command = line.replace("FOLDER", tiny_model_dirs["BertForMaskedLM"])
        result = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, env=env,
                                timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        assert result.stdout.strip(), command


def test_question_answering_bad_json_line_is_a_clear_error(tiny_model_dirs):
    require("bert_torch")
    result = _bertzoo("run", "--task", "question-answering", "--model", tiny_model_dirs["BertForQuestionAnswering"],
                      stdin='{"question": "who?", "context": "john rides."}\nnot json\n')
    assert result.returncode == 1 and "line 2 is not a JSON object" in result.stderr
    assert "Traceback" not in result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert "answer" in first and second["line"] == 2  # the good line still gets its answer
