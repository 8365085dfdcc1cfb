"""convert(): configs, tokenizer files, head inference, dry runs; and the convert / inspect / verify commands."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil

import pytest

from conversion import CheckpointError, convert, infer_head, load_state_dict
from bertzoo.convert_cli import add_convert_parser, add_inspect_parser, add_verify_parser
from tests.conftest import HEADS, TINY
from tests.conversion.conftest import assert_identical, available_formats

FORMATS = available_formats()
TOKENIZER = TINY.parent / "minilm-tokenizer"


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="bertzoo")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_convert_parser, add_verify_parser, add_inspect_parser):
        add(sub)
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture
def src(tmp_path):
    """The BertForPreTraining fixture with tokenizer files beside it."""
    folder = tmp_path / "src"
    shutil.copytree(TINY / "BertForPreTraining" / "pt", folder)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(TOKENIZER / name, folder / name)
    return folder


@pytest.mark.parametrize("head", HEADS)
def test_infer_head_from_config_and_from_names(head, fixture_state_dicts):
    config = json.loads((TINY / head / "pt" / "config.json").read_text())
    assert infer_head(config, fixture_state_dicts[head]) == head
    for fw_name in (f"TF{head}", "FlaxBertForCausalLM" if head == "BertLMHeadModel" else f"Flax{head}"):
        assert infer_head({"architectures": [fw_name]}, []) == head
    by_names = infer_head({"is_decoder": config.get("is_decoder", False)}, fixture_state_dicts[head])
    assert by_names == ("BertForSequenceClassification" if head == "BertForMultipleChoice" else head)


def test_every_format_to_every_other_through_convert(src, tmp_path, fixture_state_dicts):
    ref = fixture_state_dicts["BertForPreTraining"]
    for a in FORMATS:
        convert(src, tmp_path / a, a)
        for b in FORMATS:
            if a != b:
                there, back = tmp_path / f"{a}__{b}", tmp_path / f"{a}__{b}__{a}"
                convert(tmp_path / a, there, b)
                convert(there, back, a)
                assert_identical(load_state_dict(back), ref, f"{a} -> {b} -> {a}")
                assert (back / "vocab.txt").read_bytes() == (src / "vocab.txt").read_bytes()


def test_tf1_gets_bert_config_json_and_back(src, tmp_path):
    if "tf1" not in FORMATS:
        pytest.skip("tensorflow not installed")
    plan = convert(src, tmp_path / "google", "tf1")
    assert sorted(plan.files) == sorted(["bert_model.ckpt.index", "bert_model.ckpt.data-00000-of-00001",
                                         "bert_config.json", "vocab.txt", "tokenizer_config.json",
                                         "special_tokens_map.json"])
    google = json.loads((tmp_path / "google" / "bert_config.json").read_text())
    assert list(google)[:11] == sorted(list(google)[:11]) and google["hidden_size"] == 32
    assert not (tmp_path / "google" / "config.json").exists()
    convert(tmp_path / "google" / "bert_model.ckpt", tmp_path / "back", "pt")
    config = json.loads((tmp_path / "back" / "config.json").read_text())
    original = json.loads((src / "config.json").read_text())
    for key in ("hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size", "layer_norm_eps"):
        assert config[key] == original[key]
    assert config["architectures"] == ["BertForPreTraining"]


def test_config_architectures_follow_the_target_framework(src, tmp_path):
    for to, name in (("tf", "TFBertForPreTraining"), ("flax", "FlaxBertForPreTraining"), ("bin", "BertForPreTraining")):
        if to in FORMATS:
            convert(src, tmp_path / to, to)
            assert json.loads((tmp_path / to / "config.json").read_text())["architectures"] == [name]


def test_dry_run_writes_nothing_and_lists_tensors(src, tmp_path, capsys):
    assert cli("convert", src, tmp_path / "out", "--to", "tf1" if "tf1" in FORMATS else "bin", "--dry-run") == 0
    assert not (tmp_path / "out").exists()
    out = capsys.readouterr().out
    assert "46 mapped, 0 skipped, 0 missing, 0 unexpected" in out
    assert "bert.encoder.layer.1.output.dense.weight" in out


def test_dry_run_reports_missing_and_unexpected(src, tmp_path):
    sd = load_state_dict(src)
    del sd["cls.seq_relationship.bias"]
    sd["bert.extra.weight"] = sd["bert.pooler.dense.weight"]
    from conversion import save_state_dict

    save_state_dict(sd, tmp_path / "odd", "safetensors")
    shutil.copyfile(src / "config.json", tmp_path / "odd" / "config.json")
    plan = convert(tmp_path / "odd", tmp_path / "out", "bin", dry_run=True)
    status = {r.source or r.target: r.status for r in plan.rows}
    assert status["cls.seq_relationship.bias"] == "missing" and status["bert.extra.weight"] == "unexpected"


def test_convert_replaces_the_same_format_and_refuses_another_or_the_source(src, tmp_path, fixture_state_dicts):
    convert(src, tmp_path / "a", "pt", max_shard_size=20_000)
    assert (tmp_path / "a" / "model.safetensors.index.json").exists()
    convert(src, tmp_path / "a", "pt")  # unsharded now: the old shards and index are removed
    assert sorted(p.name for p in (tmp_path / "a").glob("model*")) == ["model.safetensors"]
    assert_identical(load_state_dict(tmp_path / "a"), fixture_state_dicts["BertForPreTraining"], "replaced")
    with pytest.raises(CheckpointError, match="already holds"):
        convert(src, tmp_path / "a", "bin")
    with pytest.raises(CheckpointError, match="source folder"):
        convert(src, src, "bin")


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli("convert", tmp_path / "empty", tmp_path / "out", "--to", "pt") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and str(tmp_path / "empty") in err


def test_inspect(src, capsys):
    assert cli("inspect", src) == 0
    out = capsys.readouterr().out
    assert "safetensors" in out and "BertForPreTraining" in out and "float32" in out and "hidden_size=32" in out
    assert cli("inspect", src, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == sum(v.size for v in load_state_dict(src).values())


def test_help_texts():
    for command in ("convert", "verify", "inspect"):
        with pytest.raises(SystemExit):
            cli(command, "--help")


@pytest.mark.skipif(importlib.util.find_spec("bert_torch") is None, reason="bert_torch not available")
def test_verify(src, capsys):
    frameworks = ",".join(fw for fw, pkg in (("pt", "torch"), ("tf", "tensorflow"), ("flax", "jax"))
                          if importlib.util.find_spec(pkg))
    assert cli("verify", src, "--frameworks", frameworks, "--atol", "1e-5") == 0
    out = capsys.readouterr().out
    assert "prediction_logits" in out and "FAIL" not in out
    assert cli("verify", src, "--frameworks", frameworks, "--atol", "0") in (0, 1)
