"""bert_tf.train: schedule and AdamW against bert_core.training, one step against bert_torch.train, the CLI, and
MirroredStrategy on two logical CPUs against one device (in a subprocess: logical devices must be set before TF
initialises)."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

import bert_tf  # noqa: F401  (sets the Keras backend)
import keras
import tensorflow as tf

from bert_core import BertConfig
from bert_core.training import TrainingConfig, adamw_reference_step, decays, learning_rate_at
from bert_tf import train as tf_train
from bert_tf.schedules import LinearWarmupDecay, build_optimizer
from tests.conftest import tiny_config_dict
from tests.contract.builders import task_arrays as contract_task_arrays
from tests.tf.helpers import run_python

VOCAB, SEQ = 99, 10


def task_arrays(task: str, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows for ``task``; pre-training rows have 1 to 4 MLM labels, so micro-batch means differ."""
    return contract_task_arrays(task, n=n, seq=SEQ, seed=seed, vocab=VOCAB, labelled=None)


def global_batches(arrays: dict, batch_size: int) -> list[dict]:
    n = len(arrays["input_ids"])
    return [{k: v[i:i + batch_size] for k, v in arrays.items()} for i in range(0, n, batch_size)]


def training_config(task: str, **overrides) -> TrainingConfig:
    values = dict(task=task, total_steps=2, warmup_steps=1, batch_size=4, learning_rate=1e-2, weight_decay=0.1,
                  max_grad_norm=0.5, log_every=1, seed=0)
    values.update(overrides)
    return TrainingConfig(**values)


def test_schedule_is_learning_rate_at_per_optimizer_step():
    config = TrainingConfig(learning_rate=3e-4, warmup_steps=3, total_steps=10, gradient_accumulation_steps=2,
                            batch_size=4)
    schedule = LinearWarmupDecay.from_training_config(config)
    for micro in range(24):
        assert float(schedule(micro)) == pytest.approx(learning_rate_at(micro // 2, config), rel=1e-6, abs=1e-12)
    restored = LinearWarmupDecay.from_config(schedule.get_config())
    assert float(restored(7)) == float(schedule(7))


def test_adamw_is_the_reference_step():
    """Two clipped steps with and without weight decay equal bert_core.training.adamw_reference_step (torch's)."""
    config = TrainingConfig(learning_rate=0.1, warmup_steps=0, total_steps=4, weight_decay=0.3, max_grad_norm=0.5,
                            adam_epsilon=1e-3)
    rng = np.random.default_rng(0)
    params = {"bert.encoder.layer.0.output.dense.weight": rng.normal(size=(3, 2)),
              "bert.encoder.layer.0.output.dense.bias": rng.normal(size=(3,)),
              "bert.embeddings.LayerNorm.weight": rng.normal(size=(2,))}
    variables = {k: keras.Variable(v.astype(np.float32), name=k.replace(".", "_")) for k, v in params.items()}
    optimizer = build_optimizer(variables, config)
    state = None
    for step in range(2):
        grads = {k: rng.normal(size=v.shape) * 1e-3 ** step for k, v in params.items()}
        params, state, _ = adamw_reference_step(params, grads, state, config)
        optimizer.apply([tf.constant(grads[k], tf.float32) for k in variables], list(variables.values()))
        for k, var in variables.items():
            np.testing.assert_allclose(var.numpy(), params[k], rtol=1e-5, atol=1e-6, err_msg=f"{k} step {step}")
    assert [k for k in params if not decays(k)] == list(params)[1:]


MIRRORED = textwrap.dedent("""
    import json, os
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.experimental.enable_tensor_float_32_execution(False)
    import numpy as np
    from bert_core import BertConfig
    from bert_tf import train as tf_train
    from tests.conftest import tiny_config_dict
    from tests.tf.test_train import global_batches, task_arrays, training_config

    out = {}
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # one per process: collective keys repeat
    for task, batch_size, accum in [("pretraining", 4, 1), ("sequence-classification", 8, 2)]:
        bert_config = BertConfig(**tiny_config_dict())
        batches = global_batches(task_arrays(task, n=2 * batch_size), batch_size)
        runs = []
        for name, strategy, steps in [("one", "none", 2 * accum),
                                      ("mirrored", mirrored, accum)]:
            config = training_config(task, batch_size=batch_size, gradient_accumulation_steps=steps)
            model = tf_train.build_model(config, model_config=bert_config, strategy=strategy)
            if not runs:
                weights = model.schema_state_dict()
            model.load_schema_state_dict(weights)
            result = tf_train.train(model, iter(batches), config, strategy=strategy, progress=False, save=False)
            runs.append((result.losses, model.schema_state_dict()))
        (l1, w1), (l2, w2) = runs
        out[task] = {"losses": [l1, l2],
                     "weights": max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1),
                     "moved": max(float(np.max(np.abs(w1[k] - weights[k]))) for k in w1),
                     "replicas": strategy.num_replicas_in_sync}
    print("RESULT" + json.dumps(out))
""")


def test_mirrored_strategy_equals_one_device():
    """MirroredStrategy over two logical CPUs (per-replica micro-batches, all-reduced clipped gradients) gives the
    losses and weights of one device running the same micro-batches by accumulation, to 1e-5."""
    proc = run_python(MIRRORED, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    for task, r in json.loads(lines[-1][len("RESULT"):]).items():
        assert r["replicas"] == 2, task
        np.testing.assert_allclose(r["losses"][0], r["losses"][1], atol=1e-5, err_msg=task)
        assert r["weights"] <= 1e-5 and r["moved"] > 1e-3, (task, r)


def _tiny_model(config: TrainingConfig, **overrides):
    return tf_train.build_model(config, model_config=BertConfig(**tiny_config_dict(**overrides)))


def test_resume_continues_exactly(tmp_path):
    """4 steps straight equal 2 steps, then 2 more resumed from checkpoint-2 (weights, AdamW moments, step)."""
    config = training_config("sequence-classification", total_steps=4, save_every=2, output_dir=str(tmp_path / "a"))
    batches = global_batches(task_arrays("sequence-classification", n=16), 4)
    straight = tf_train.train(_tiny_model(config), batches, config, progress=False)
    assert (tmp_path / "a" / "checkpoint-2" / tf_train.STATE_NAME).is_file()
    config_b = TrainingConfig.load(tmp_path / "a").replace(output_dir=str(tmp_path / "b"))
    model = _tiny_model(config_b)
    resumed = tf_train.train(model, iter(batches), config_b, progress=False,
                             resume_from=tmp_path / "a" / "checkpoint-2")
    assert resumed.steps == 2
    np.testing.assert_allclose(resumed.losses, straight.losses[2:], atol=1e-6)
    final = bert_tf.TFBertForSequenceClassification.from_pretrained(tmp_path / "a").schema_state_dict()
    for name, value in model.schema_state_dict().items():
        np.testing.assert_allclose(value, final[name], atol=1e-6, err_msg=name)
    assert json.loads((tmp_path / "b" / "trainer_state.json").read_text())["step"] == 4


def test_bf16_policy_keeps_float32_weights():
    config = training_config("token-classification", dtype="bfloat16")
    model = _tiny_model(config)
    assert model.dtype_policy.name == "mixed_bfloat16" and keras.config.dtype_policy().name == "float32"
    result = tf_train.train(model, global_batches(task_arrays("token-classification"), 4), config, progress=False,
                            save=False)
    assert np.isfinite(result.losses).all()
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        tf_train.train(_tiny_model(config.replace(dtype="float32")), [], config, progress=False, save=False)


def test_errors_wrong_head_and_data_running_out():
    config = training_config("sequence-classification", total_steps=3)
    with pytest.raises(ValueError, match="task 'pretraining' trains a BertForPreTraining"):
        tf_train.train(_tiny_model(config), [], config.replace(task="pretraining"), progress=False, save=False)
    with pytest.raises(ValueError, match="ran out after 2 steps"):
        tf_train.train(_tiny_model(config), global_batches(task_arrays("sequence-classification"), 4), config,
                       progress=False, save=False)
    with pytest.raises(ValueError, match="fsdp is PyTorch only"):
        tf_train.resolve_strategy("fsdp")


def test_cli_refuses_fsdp(tmp_path, capsys):
    from bertzoo import cli

    code = cli.main(["train", "--framework", "tf", "--strategy", "fsdp", "--config", "config.json",
                     "--train-files", "x.npz", "--output-dir", str(tmp_path)])
    assert code == 2 and "fsdp is PyTorch only" in capsys.readouterr().err


def test_cli_pretraining_from_text(tmp_path, capsys):
    from bertzoo import cli
    from tests.conftest import FIXTURES

    (tmp_path / "config.json").write_text(json.dumps(tiny_config_dict(vocab_size=30522, max_position_embeddings=32)))
    text = "\n\n".join("\n".join(f"the cat number {d} sat on mat {i}." for i in range(6)) for d in range(6))
    (tmp_path / "corpus.txt").write_text(text)
    out = tmp_path / "out"
    code = cli.main(["train", "--framework", "tf", "--task", "pretraining", "--config", str(tmp_path / "config.json"),
                     "--tokenizer", str(FIXTURES / "minilm-tokenizer"), "--train-files", str(tmp_path / "corpus.txt"),
                     "--output-dir", str(out), "--steps", "2", "--batch-size", "2", "--seq-len", "16",
                     "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "trained 2 steps" in printed and "sequences/s" in printed
    assert (out / "tf_model.h5").is_file()
    assert bert_tf.TFBertForPreTraining.from_pretrained(out).config.vocab_size == 30522
    assert TrainingConfig.load(out).max_seq_length == 16


MULTI_WORKER = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from bert_core import BertConfig
    from bert_tf import train as tf_train
    from tests.conftest import tiny_config_dict
    from tests.tf.test_train import global_batches, task_arrays, training_config

    folder = sys.argv[1]
    strategy = tf_train.resolve_strategy("auto")  # TF_CONFIG names a cluster: MultiWorkerMirroredStrategy
    config = training_config("pretraining", output_dir=os.path.join(folder, "out"))
    model = tf_train.build_model(config, model_config=BertConfig(**tiny_config_dict()), strategy=strategy)
    with np.load(os.path.join(folder, "init.npz")) as z:
        model.load_schema_state_dict({k: z[k] for k in z.files})
    result = tf_train.train(model, global_batches(task_arrays("pretraining"), 4), config, strategy=strategy,
                            progress=False)
    print("RESULT" + json.dumps({"losses": result.losses, "replicas": strategy.num_replicas_in_sync,
                                 "chief": tf_train.is_chief(strategy), "kind": type(strategy).__name__}))
""")


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_equals_one_device(tmp_path):
    """Two worker processes on localhost (TF_CONFIG) train like one device accumulating their micro-batches;
    only the chief writes the output folder."""
    import socket
    import subprocess
    import sys

    from tests.tf.helpers import ROOT

    config = training_config("pretraining", gradient_accumulation_steps=2)
    init = _tiny_model(config).schema_state_dict()
    np.savez(tmp_path / "init.npz", **init)
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("localhost", 0))
            ports.append(s.getsockname()[1])
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker",
                                                                                        "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="2")
        procs.append(subprocess.Popen([sys.executable, "-c", MULTI_WORKER, str(tmp_path)], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        lines = [line for line in out.splitlines() if line.startswith("RESULT")]
        assert proc.returncode == 0 and lines, out[-2000:] + err[-4000:]
        results.append(json.loads(lines[-1][len("RESULT"):]))
    assert [r["chief"] for r in results] == [True, False]
    assert {r["kind"] for r in results} == {"CollectiveAllReduceStrategy"} and results[0]["replicas"] == 2

    model = _tiny_model(config)
    model.load_schema_state_dict(init)
    single = tf_train.train(model, global_batches(task_arrays("pretraining"), 4), config, strategy="none",
                            progress=False, save=False)
    for r in results:
        np.testing.assert_allclose(r["losses"], single.losses, atol=1e-5)
    trained = bert_tf.TFBertForPreTraining.from_pretrained(tmp_path / "out").schema_state_dict()
    for name, value in model.schema_state_dict().items():
        np.testing.assert_allclose(trained[name], value, atol=1e-5, err_msg=name)


def test_adamw_step_is_one_fused_kernel_per_variable():
    """Without gradient accumulation the update is TF's fused ResourceApplyAdam (one pass over var, m, v)."""
    config = TrainingConfig(learning_rate=0.1, warmup_steps=0, total_steps=4, weight_decay=0.3, max_grad_norm=0.5)
    variables = {"bert.pooler.dense.weight": keras.Variable(np.ones((3, 2), np.float32), name="w")}
    optimizer = build_optimizer(variables, config)
    apply = tf.function(lambda g: optimizer.apply([g], list(variables.values())))
    graph = apply.get_concrete_function(tf.TensorSpec((3, 2), tf.float32)).graph.as_graph_def()
    assert "ResourceApplyAdam" in str(graph)
