"""bert_torch training on one process: the AdamW step against the numpy reference, accumulation, schedule,
decay groups, bf16, resume, and ``bertzoo train --framework pt`` end to end (tiny configs, dropout off)."""

import json

import numpy as np
import pytest
import torch

import conversion
from bert_core import BertConfig
from bertzoo import cli
from bert_core.training import TrainingConfig, decays, learning_rate_at, step_batches
from bert_torch.train import build_model, train
from bert_torch.train_state import build_optimizer, build_scheduler, to_tensors
from tests.conftest import FIXTURES, tiny_config_dict
from tests.torch.train_helpers import classification_arrays, pretraining_arrays, run_training


def test_accumulating_two_half_batches_equals_one_full_batch(tmp_path):
    arrays = classification_arrays(n=8)
    full, full_sd = run_training("sequence-classification", arrays, str(tmp_path / "full"), batch_size=8)
    acc, acc_sd = run_training("sequence-classification", arrays, str(tmp_path / "acc"), batch_size=8,
                               gradient_accumulation_steps=2)
    np.testing.assert_allclose(acc.losses, full.losses, atol=1e-6)
    np.testing.assert_allclose(acc.grad_norms, full.grad_norms, rtol=1e-5)
    for name in full_sd:
        np.testing.assert_allclose(acc_sd[name], full_sd[name], atol=1e-6, err_msg=name)


def test_scheduler_follows_learning_rate_at():
    config = TrainingConfig(learning_rate=0.5, warmup_steps=3, total_steps=8)
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config)
    seen = []
    for _ in range(9):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(seen, [learning_rate_at(s, config) for s in range(9)])


def test_scheduler_equals_transformers():
    transformers = pytest.importorskip("transformers")
    config = TrainingConfig(learning_rate=0.5, warmup_steps=3, total_steps=8)
    ours = build_scheduler(build_optimizer(torch.nn.Linear(2, 2), config), config)
    opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=0.5)
    theirs = transformers.get_linear_schedule_with_warmup(opt, 3, 8)
    for _ in range(9):
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0])
        ours.optimizer.step(), opt.step()
        ours.step(), theirs.step()


def test_decay_groups_are_biases_and_layernorm_weights():
    config = TrainingConfig(weight_decay=0.01)
    model = build_model(config, model_config=BertConfig(**tiny_config_dict()))
    optimizer = build_optimizer(model, config)
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay = ([names[id(p)] for p in g["params"]] for g in optimizer.param_groups)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]
    assert all(n.endswith(".bias") or n.endswith("LayerNorm.weight") for n in no_decay)
    assert "bert.embeddings.LayerNorm.weight" in no_decay and "cls.predictions.bias" in no_decay
    assert all(decays(n) for n in decay) and len(decay) + len(no_decay) == len(names)


def test_bf16_autocast_step_keeps_float32_weights(tmp_path):
    result, sd = run_training("token-classification", {**classification_arrays(n=4), "labels": np.full(
        (4, 12), 1)}, str(tmp_path), dtype="bfloat16", total_steps=2, batch_size=4)
    assert all(np.isfinite(result.losses))
    assert {a.dtype for a in sd.values()} == {np.dtype("float32")}


def test_resume_continues_exactly(tmp_path):
    arrays = classification_arrays(n=8, num_labels=3)
    straight, straight_sd = run_training("sequence-classification", arrays, str(tmp_path / "a"), total_steps=4,
                                         save_every=2, log_every=1)
    assert (tmp_path / "a" / "checkpoint-2" / "training_state.pt").is_file()
    config = TrainingConfig.load(tmp_path / "a").replace(output_dir=str(tmp_path / "b"))
    model = build_model(config, model_config=BertConfig(**tiny_config_dict()))
    from bert_core.training import array_batches
    resumed = train(model, array_batches(arrays, config, shuffle=False), config, progress=False,
                    resume_from=tmp_path / "a" / "checkpoint-2")
    assert resumed.steps == 2
    np.testing.assert_allclose(resumed.losses, straight.losses[2:], atol=1e-6)
    resumed_sd = conversion.load_state_dict(str(tmp_path / "b"))
    for name in straight_sd:
        np.testing.assert_allclose(resumed_sd[name], straight_sd[name], atol=1e-6, err_msg=name)
    assert json.loads((tmp_path / "b" / "trainer_state.json").read_text())["step"] == 4


def test_step_batches_feed_the_same_micro_batches_to_the_model():
    config = TrainingConfig(task="sequence-classification", batch_size=4, gradient_accumulation_steps=2)
    (micro,) = list(step_batches([classification_arrays(n=4)], config))
    assert [m["input_ids"].shape for m in micro] == [(2, 12), (2, 12)]


def test_cli_pretraining_from_text(tmp_path, capsys):
    tokenizer = str(FIXTURES / "minilm-tokenizer")
    config = tiny_config_dict(vocab_size=30522, max_position_embeddings=32)
    (tmp_path / "config.json").write_text(json.dumps(config))
    text = "\n\n".join("\n".join(f"the cat number {d} sat on mat {i}." for i in range(6)) for d in range(6))
    (tmp_path / "corpus.txt").write_text(text)
    out = tmp_path / "out"
    code = cli.main(["train", "--framework", "pt", "--task", "pretraining", "--config", str(tmp_path / "config.json"),
                     "--tokenizer", tokenizer, "--train-files", str(tmp_path / "corpus.txt"), "--output-dir",
                     str(out), "--steps", "2", "--batch-size", "2", "--seq-len", "16", "--no-progress"])
    assert code == 0
    assert "trained 2 steps" in capsys.readouterr().out
    from bert_torch import BertForPreTraining
    model = BertForPreTraining.from_pretrained(out)
    assert model.config.vocab_size == 30522
    assert TrainingConfig.load(out).max_seq_length == 16


def test_cli_fine_tuning_from_npz(tmp_path):
    np.savez(tmp_path / "train.npz", **classification_arrays(n=8))
    src = build_model(TrainingConfig(task="sequence-classification"), model_config=BertConfig(**tiny_config_dict()))
    src.save_pretrained(tmp_path / "base")
    code = cli.main(["train", "--task", "sequence-classification", "--model", str(tmp_path / "base"),
                     "--num-labels", "3", "--train-files", str(tmp_path / "train.npz"), "--output-dir",
                     str(tmp_path / "out"), "--steps", "2", "--batch-size", "4", "--no-progress"])
    assert code == 0
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_wrong_head_for_task_is_refused():
    model = build_model(TrainingConfig(task="token-classification"), model_config=BertConfig(**tiny_config_dict()))
    with pytest.raises(ValueError, match="task 'pretraining' trains a BertForPreTraining"):
        train(model, iter([]), TrainingConfig(task="pretraining"), progress=False, save=False)


def test_running_out_of_data_is_a_clear_error(tmp_path):
    config = TrainingConfig(task="sequence-classification", batch_size=4, total_steps=3, output_dir=str(tmp_path))
    model = build_model(config, model_config=BertConfig(**tiny_config_dict()))
    with pytest.raises(ValueError, match="ran out after 1 steps"):
        train(model, iter([classification_arrays(n=4)]), config, progress=False, save=False)


def test_sparse_mlm_loss_equals_the_model_loss_and_gradients():
    from bert_torch.train_state import PretrainingLoss

    model = build_model(TrainingConfig(), model_config=BertConfig(**tiny_config_dict()))
    batch = to_tensors(pretraining_arrays(n=4), torch.device("cpu"))
    full = model(**batch).loss
    full.backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    sparse = PretrainingLoss(model)(**batch).loss
    sparse.backward()
    assert float(sparse.detach()) == pytest.approx(float(full.detach()), abs=1e-6)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, want[n], atol=1e-6, rtol=1e-5, msg=n)
