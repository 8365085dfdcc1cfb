"""bert_flax training: the AdamW step against the numpy reference, accumulation, exact Orbax resume, ``bertzoo train
--framework flax`` end to end (tiny configs, dropout off)."""

import json

import jax
import numpy as np
import pytest

import conversion
from bert_core import BertConfig
from bertzoo import cli
from bert_core.training import TrainingConfig, array_batches, decays
from bert_flax.train import build_model, decay_mask, train
from tests.conftest import tiny_config_dict
from tests.contract.builders import task_arrays


def classification_arrays(n=8):
    return task_arrays("sequence-classification", n=n)


def _config(tmp_path, **kw):
    base = dict(task="sequence-classification", total_steps=2, batch_size=8, warmup_steps=1, learning_rate=1e-2,
                weight_decay=0.1, max_grad_norm=0.2, log_every=1, output_dir=str(tmp_path))
    return TrainingConfig(**{**base, **kw})


def test_decay_mask_follows_the_schema_rule():
    model = build_model(TrainingConfig(task="pretraining"), model_config=BertConfig(**tiny_config_dict()))
    from flax.traverse_util import flatten_dict

    from conversion.names.flax import flax_path_to_schema
    mask = {flax_path_to_schema("/".join(k))[0]: v for k, v in flatten_dict(decay_mask(model.params)).items()}
    assert len(mask) > 20 and all(bool(v) == decays(k) for k, v in mask.items())
    assert not mask["bert.embeddings.LayerNorm.weight"] and mask["bert.embeddings.word_embeddings.weight"]


def test_accumulation_equals_full_batch(tmp_path):
    arrays = classification_arrays(n=16)
    runs = {}
    for name, accum in (("full", 1), ("acc", 2)):
        config = _config(tmp_path / name, batch_size=16, gradient_accumulation_steps=accum, total_steps=3)
        model = build_model(config, model_config=BertConfig(**tiny_config_dict()))
        runs[name] = train(model, array_batches(arrays, config, shuffle=False), config, progress=False, save=False)
    np.testing.assert_allclose(runs["acc"].losses, runs["full"].losses, atol=1e-5)


def test_cli_fine_tuning_from_npz(tmp_path, capsys):
    np.savez(tmp_path / "train.npz", **classification_arrays(n=8))
    (tmp_path / "config.json").write_text(json.dumps(tiny_config_dict()))
    code = cli.main(["train", "--framework", "flax", "--task", "sequence-classification", "--config",
                     str(tmp_path / "config.json"), "--train-files", str(tmp_path / "train.npz"), "--output-dir",
                     str(tmp_path / "out"), "--steps", "2", "--batch-size", "8", "--no-progress",
                     "--mesh", "data=-1", "--scan-layers", "--remat"])
    assert code == 0
    assert "trained 2 steps" in capsys.readouterr().out
    import bert_flax
    model = bert_flax.FlaxBertForSequenceClassification.from_pretrained(tmp_path / "out")
    assert model.config.num_labels == 3
    assert (tmp_path / "out" / "checkpoints" / "2").is_dir()


def test_cli_help_lists_the_flax_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--mesh", "--scan-layers", "--remat", "--distributed"):
        assert flag in text


def test_wrong_head_for_task_is_refused():
    model = build_model(TrainingConfig(task="token-classification"), model_config=BertConfig(**tiny_config_dict()))
    with pytest.raises(ValueError, match="task 'pretraining' trains a BertForPreTraining"):
        train(model, iter([]), TrainingConfig(task="pretraining"), progress=False, save=False)


def test_bf16_compute_keeps_float32_weights(tmp_path):
    config = _config(tmp_path, dtype="bfloat16")
    model = build_model(config, model_config=BertConfig(**tiny_config_dict()))
    result = train(model, array_batches(classification_arrays(), config), config, progress=False, save=False)
    assert all(np.isfinite(result.losses))
    assert {str(x.dtype) for x in jax.tree_util.tree_leaves(model.params)} == {"float32"}


def test_restart_from_orbax_checkpoint_gives_the_same_loss_curve(tmp_path):
    """Pre-training with dropout on: 4 steps straight == 2 steps, a crash, a restart from the Orbax checkpoint in
    a fresh model, 2 more steps: the same losses and weights, bit for bit."""
    from tests.flax.test_train_sharding import pretraining_arrays

    bert = BertConfig(**tiny_config_dict(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1))
    arrays = pretraining_arrays(n=16)
    config = TrainingConfig(task="pretraining", total_steps=4, batch_size=8, warmup_steps=1, learning_rate=1e-2,
                            log_every=1, save_every=2)

    def crashing(batches, after):
        for i, batch in enumerate(batches):
            if i == after:
                raise RuntimeError("preempted")
            yield batch

    straight = train(build_model(config, model_config=bert), array_batches(arrays, config),
                     config.replace(output_dir=str(tmp_path / "straight")), progress=False)
    crashed = config.replace(output_dir=str(tmp_path / "crashed"))
    with pytest.raises(RuntimeError, match="preempted"):
        train(build_model(config, model_config=bert), crashing(array_batches(arrays, config), 2), crashed,
              progress=False)
    assert sorted(p.name for p in (tmp_path / "crashed" / "checkpoints").iterdir()) == ["2"]
    resumed = train(build_model(config, model_config=bert), array_batches(arrays, config), crashed,
                    progress=False, resume_from=tmp_path / "crashed")
    assert resumed.steps == 2 and len(straight.losses) == 4
    assert resumed.losses == straight.losses[2:]
    a, b = conversion.load_state_dict(str(tmp_path / "straight")), conversion.load_state_dict(str(tmp_path / "crashed"))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
