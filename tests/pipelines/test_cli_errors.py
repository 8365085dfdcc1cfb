"""Every documented error path of every ``bertzoo`` command: a one-line message and a non-zero exit, no traceback.

Run in-process through ``bertzoo.cli.main`` (an escaping exception fails the test by itself), with standard input
replaced where a command reads it; one subprocess checks that TensorFlow's C++ start-up lines stay hidden.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from bertzoo.cli import main
from tests.conftest import TINY, require


def _call(capsys, monkeypatch, argv, stdin: bytes = b""):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("argv, needle", [
    (["run", "--task", "fill-mask", "--model", "MODEL", "--top-k", "-3"], "must be at least 1"),
    (["run", "--task", "fill-mask", "--model", "MODEL", "--batch-size", "0"], "must be at least 1"),
    (["run", "--task", "fill-mask", "--model", "MODEL", "--top-k", "many"], "whole number"),
    (["run", "--task", "no-such-task", "--model", "MODEL"], "invalid choice"),
    (["convert", "SRC", "DST", "--to", "onnx"], "invalid choice"),
])
def test_usage_errors(capsys, monkeypatch, argv, needle):
    code, _, err = _call(capsys, monkeypatch, argv)
    assert code == 2 and needle in err


def test_bad_lines_get_error_records_and_the_others_results(capsys, monkeypatch, tiny_model_dirs):
    require("bert_torch")
    stdin = ("paris is the [MASK] of france.\nno mask here.\n" + "the " * 600 + "[MASK]\n").encode() + \
        b"\xff\xfe bad bytes [MASK]\nthe [MASK] eats food.\n"
    code, out, err = _call(capsys, monkeypatch, ["run", "--task", "fill-mask", "--model",
                                                 tiny_model_dirs["BertForMaskedLM"], "--top-k", "2"], stdin)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(records) == 5
    assert isinstance(records[0], list) and isinstance(records[4], list)  # good lines keep their results
    assert [r["line"] for r in records[1:4]] == [2, 3, 4]
    assert "[MASK]" in records[1]["error"] and "tokens" in records[2]["error"] and "UTF-8" in records[3]["error"]
    assert "line 2" in err


def test_question_answering_bad_json_line(capsys, monkeypatch, tiny_model_dirs):
    require("bert_torch")
    good = json.dumps({"question": "who rides?", "context": "the man rides a horse."})
    code, out, _ = _call(capsys, monkeypatch, ["run", "--task", "question-answering", "--model",
                                               tiny_model_dirs["BertForQuestionAnswering"]],
                         f"{good}\nnot json\n{{\"question\": \"\", \"context\": \"x\"}}\n".encode())
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and "answer" in records[0] and records[1]["line"] == 2 and records[2]["line"] == 3


@pytest.mark.parametrize("device", ["5", "tpu:3"])
def test_absent_accelerator_is_an_error_not_a_fallback(capsys, monkeypatch, tiny_model_dirs, device):
    require("bert_torch")
    code, _, err = _call(capsys, monkeypatch, ["run", "--task", "fill-mask", "--framework", "pt", "--device",
                                               device, "--model", tiny_model_dirs["BertForMaskedLM"]], b"a [MASK]\n")
    assert code == 2 and "device" in err


def test_missing_and_broken_checkpoints(capsys, monkeypatch, tmp_path):
    missing = str(tmp_path / "nowhere")
    for argv in (["convert", missing, str(tmp_path / "out"), "--to", "tf"], ["verify", missing],
                 ["inspect", missing]):
        code, _, err = _call(capsys, monkeypatch, argv)
        assert code != 0 and "nowhere" in err, argv
    broken = tmp_path / "broken"
    shutil.copytree(TINY / "BertModel" / "pt", broken)
    text = (broken / "config.json").read_text()
    (broken / "config.json").write_text(text[: len(text) // 2])  # truncated
    code, _, err = _call(capsys, monkeypatch, ["inspect", str(broken)])
    assert code != 0 and "config.json" in err


def test_train_errors(capsys, monkeypatch, tmp_path):
    code, _, err = _call(capsys, monkeypatch, ["train", "--config", str(TINY / "BertModel" / "pt" / "config.json"),
                                               "--train-files", str(tmp_path / "absent.txt"),
                                               "--output-dir", str(tmp_path / "o"), "--framework", "pt",
                                               "--tokenizer", str(tmp_path)])
    assert code == 2 and "absent.txt" in err


def test_demo_with_a_missing_model(capsys, monkeypatch, tmp_path):
    code, _, err = _call(capsys, monkeypatch, ["demo", "--model", str(tmp_path / "nowhere"), "--out",
                                               str(tmp_path / "out")])
    assert code != 0 and "nowhere" in err


def test_tensorflow_start_up_lines_never_reach_the_terminal(tmp_path):
    require("bert_tf")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "bertzoo.cli", "inspect", str(TINY / "BertModel" / "tf")],
                            capture_output=True, text=True, env=env, timeout=300)
    code = ("import sys; from bertzoo.quiet import filtered_stderr\n"
            "with filtered_stderr():\n"
            "    import tensorflow as tf; tf.constant(1); print('kept line', file=sys.stderr)\n")
    direct = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    for stderr in (result.stderr, direct.stderr):
        assert "I0000" not in stderr and "E0000" not in stderr and "absl::InitializeLog" not in stderr, stderr
    assert "kept line" in direct.stderr
