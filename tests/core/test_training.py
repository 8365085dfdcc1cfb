"""Framework-free training rules: config checks, the learning-rate schedule, the decay rule, the AdamW reference
step, rank sharding, and the ``bertzoo train`` parser (no framework imported)."""

import argparse

import numpy as np
import pytest

from bert_core import train_args
from bertzoo import train_cli
from bert_core.training import (TrainingConfig, adamw_reference_step, array_batches, clip_scale, decays,
                                learning_rate_at, learning_rate_factor, step_batches)


def test_config_defaults_and_validation():
    config = TrainingConfig()
    assert config.head == "BertForPreTraining" and config.label_fields == ("labels", "next_sentence_label")
    assert TrainingConfig(task="question-answering").label_fields == ("start_positions", "end_positions")
    with pytest.raises(ValueError, match="task must be one of"):
        TrainingConfig(task="translation")
    with pytest.raises(ValueError, match="dtype"):
        TrainingConfig(dtype="float16")
    with pytest.raises(ValueError, match="batch_size 10 is not a multiple"):
        TrainingConfig(batch_size=10, gradient_accumulation_steps=4)
    with pytest.raises(ValueError, match="total_steps"):
        TrainingConfig(total_steps=0)
    with pytest.raises(ValueError, match="processes x gradient_accumulation_steps = 3 x 2"):
        TrainingConfig(batch_size=8, gradient_accumulation_steps=2).micro_batch_size(3)
    assert TrainingConfig(batch_size=8, gradient_accumulation_steps=2).micro_batch_size(2) == 2
    with pytest.raises(Exception):
        config.learning_rate = 1.0  # frozen


def test_config_round_trip(tmp_path):
    config = TrainingConfig(task="token-classification", learning_rate=3e-5, total_steps=7, dtype="bfloat16")
    config.save(tmp_path)
    assert TrainingConfig.load(tmp_path) == config
    with pytest.raises(ValueError, match="Unknown TrainingConfig fields: lr"):
        TrainingConfig.from_dict({"lr": 1.0})


def test_schedule_is_transformers_linear_warmup():
    config = TrainingConfig(learning_rate=1.0, warmup_steps=4, total_steps=12)
    got = [learning_rate_at(s, config) for s in range(14)]
    # transformers' get_linear_schedule_with_warmup(opt, 4, 12) lambda, written out
    want = [0.0, 0.25, 0.5, 0.75, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0.0, 0.0]
    np.testing.assert_allclose(got, want)
    assert learning_rate_factor(0, TrainingConfig(warmup_steps=0, total_steps=10)) == 1.0
    assert learning_rate_at(5, TrainingConfig(learning_rate=2e-5, warmup_steps=0, total_steps=10)) == 1e-5


@pytest.mark.parametrize("name, expected", [
    ("bert.encoder.layer.0.attention.self.query.weight", True),
    ("bert.embeddings.word_embeddings.weight", True),
    ("cls.predictions.transform.dense.weight", True),
    ("classifier.weight", True),
    ("bert.encoder.layer.0.attention.self.query.bias", False),
    ("bert.embeddings.LayerNorm.weight", False),
    ("bert.embeddings.LayerNorm.bias", False),
    ("bert.encoder.layer.11.output.LayerNorm.weight", False),
    ("cls.predictions.transform.LayerNorm.weight", False),
    ("cls.predictions.bias", False),
    ("bert.embeddings.LayerNorm.gamma", False),
])
def test_decay_rule(name, expected):
    assert decays(name) is expected


def test_clip_scale():
    assert clip_scale(0.5, 1.0) == 1.0
    assert clip_scale(4.0, 1.0) == pytest.approx(1 / (4.0 + 1e-6))
    assert clip_scale(4.0, None) == clip_scale(4.0, 0.0) == 1.0


def test_adamw_reference_first_step_by_hand():
    config = TrainingConfig(learning_rate=0.1, warmup_steps=0, total_steps=10, weight_decay=0.5,
                            max_grad_norm=None, adam_epsilon=1e-8)
    params = {"w.weight": np.array([1.0, -2.0]), "w.bias": np.array([3.0])}
    grads = {"w.weight": np.array([0.5, -4.0]), "w.bias": np.array([2.0])}
    new, state, norm = adamw_reference_step(params, grads, None, config)
    assert norm == pytest.approx(np.sqrt(0.25 + 16 + 4))
    # first step: bias-corrected m / sqrt(v) = sign(g); decay only on the weight
    np.testing.assert_allclose(new["w.weight"], [1 - 0.1 * (1 + 0.5 * 1), -2 - 0.1 * (-1 + 0.5 * -2)], rtol=1e-7)
    np.testing.assert_allclose(new["w.bias"], [3 - 0.1], rtol=1e-7)
    assert state["step"] == 1
    clipped, _, _ = adamw_reference_step(params, grads, None, config.replace(max_grad_norm=1.0))
    np.testing.assert_allclose(clipped["w.bias"], new["w.bias"], rtol=1e-6)  # Adam is scale-free (eps aside)


def test_step_batches_shard_contiguous_rows():
    config = TrainingConfig(batch_size=8, gradient_accumulation_steps=2)
    batch = {"x": np.arange(8)}
    rank1 = next(step_batches([batch], config, rank=1, world_size=2))
    assert [m["x"].tolist() for m in rank1] == [[4, 5], [6, 7]]
    single = next(step_batches([batch], config.replace(gradient_accumulation_steps=4)))
    ranks = [next(step_batches([batch], config, r, 2)) for r in range(2)]
    assert [m["x"].tolist() for m in single] == [m["x"].tolist() for r in ranks for m in r]
    assert list(step_batches([{"x": np.arange(5)}], config)) == []  # a short last batch is skipped


def test_array_batches_reshuffle_per_epoch_and_check_fields():
    config = TrainingConfig(task="sequence-classification", batch_size=4, seed=3)
    arrays = {"input_ids": np.arange(8)[:, None], "labels": np.arange(8)}
    it = array_batches(arrays, config)
    first = [next(it)["labels"] for _ in range(4)]
    assert sorted(np.concatenate(first[:2]).tolist()) == list(range(8))
    assert not np.array_equal(np.concatenate(first[:2]), np.concatenate(first[2:]))
    with pytest.raises(ValueError, match="lacks start_positions"):
        next(array_batches(arrays, config.replace(task="question-answering")))


def _parse(argv):
    parser = argparse.ArgumentParser()
    train_cli.add_train_parser(parser.add_subparsers())
    return parser.parse_args(argv)


def test_cli_builds_training_config():
    args = _parse(["train", "--task", "sequence-classification", "--model", "m", "--train-files", "a.npz",
                   "--output-dir", "o", "--steps", "5", "--batch-size", "6", "--lr", "2e-5", "--warmup-steps", "1",
                   "--grad-accum", "3", "--max-grad-norm", "0", "--seq-len", "64", "--bf16", "--seed", "4"])
    config = train_args.training_config(args)
    assert config == TrainingConfig(task="sequence-classification", total_steps=5, batch_size=6,
                                    learning_rate=2e-5, warmup_steps=1, gradient_accumulation_steps=3,
                                    max_grad_norm=None, max_seq_length=64, dtype="bfloat16", seed=4,
                                    output_dir="o")


def test_cli_missing_framework_is_a_clear_message(monkeypatch, capsys):
    from bertzoo import adapters

    monkeypatch.setitem(adapters.REQUIRES, "tf", ("tensorflow_absent_for_this_test",))
    args = _parse(["train", "--framework", "tf", "--config", "c.json", "--train-files", "a",
                   "--output-dir", "o"])
    assert args.func(args) == 2
    assert "pip install 'bertzoo[tf]'" in capsys.readouterr().err


def test_cli_rejects_bad_values(capsys):
    args = _parse(["train", "--config", "c.json", "--train-files", "a", "--output-dir", "o", "--batch-size", "3",
                   "--grad-accum", "2"])
    assert args.func(args) == 2
    assert "not a multiple of gradient_accumulation_steps" in capsys.readouterr().err
