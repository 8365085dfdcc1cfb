"""Forward speed of bert_tf (tf.function, and tf.function with jit_compile) against bert_torch in the same run,
and transformers 4.57.6's TFBertModel (Keras 2 via tf-keras, in a subprocess with TF_USE_LEGACY_KERAS=1) when
it can run.

BERT-base-sized BertModel (12 layers, hidden 768) with random weights shared by all runners through the schema,
float32, sequence 128, batch 1, 8 and 32, attention_mask of ones. Each runner is warmed up (traced/compiled)
first; torch runs all batch sizes before TensorFlow starts (their thread pools fight on small machines); the
median of ``--reps`` timed calls is reported, with ratios against bert_torch (``> 1`` = that runner
is slower than torch) and transformers TF against ours. Usage::

    .venv/bin/python bench/tf_bench.py [--batches 1,8,32] [--seq 128] [--layers 12] [--reps 3] [--threads N]
                                       [--no-hf]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from bert_core import BertConfig  # noqa: E402


def base_config(layers: int) -> BertConfig:
    return BertConfig(num_hidden_layers=layers, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def inputs_for(batch: int, seq: int, vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    return {"input_ids": rng.integers(1, vocab, size=(batch, seq)).astype(np.int32),
            "attention_mask": np.ones((batch, seq), np.int32),
            "token_type_ids": np.zeros((batch, seq), np.int32)}


def median_time(fn, reps: int) -> float:
    fn()  # warm-up: tracing / compilation / allocator
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def hf_tf_times(layers: int, batches: list[int], seq: int, reps: int,
                threads: int | None = None) -> dict[int, float] | str:
    """transformers' TFBertModel in a subprocess (Keras 2 needs TF_USE_LEGACY_KERAS=1 before TF loads)."""
    code = f"""
import json, sys, time, statistics
sys.path.insert(0, {ROOT!r})
import numpy as np, tensorflow as tf
if {threads!r}:
    tf.config.threading.set_intra_op_parallelism_threads({threads!r})
    tf.config.threading.set_inter_op_parallelism_threads({threads!r})
from transformers import BertConfig, TFBertModel
from bench.tf_bench import inputs_for
model = TFBertModel(BertConfig(num_hidden_layers={layers}, hidden_dropout_prob=0.0,
                               attention_probs_dropout_prob=0.0))
run = tf.function(lambda x: model(x, training=False).last_hidden_state)
out = {{}}
for b in {batches!r}:
    x = {{k: tf.constant(v) for k, v in inputs_for(b, {seq}, 30522).items()}}
    run(x).numpy()
    ts = []
    for _ in range({reps}):
        t = time.perf_counter(); run(x).numpy(); ts.append(time.perf_counter() - t)
    out[str(b)] = statistics.median(ts)
print("RESULT" + json.dumps(out))
"""
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", USE_TORCH="0", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode != 0 or "RESULT" not in proc.stdout:
        return "unavailable: " + (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return {int(k): v for k, v in json.loads(proc.stdout.split("RESULT", 1)[1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-hf", action="store_true", help="skip transformers' TF model")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every runner (torch.set_num_threads, TF intra-op); default: each "
                             "library's own. On a shared, loaded machine use 1: torch's OpenMP threads spin "
                             "badly when the cores are oversubscribed")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    import torch

    import bert_torch

    if args.threads:
        torch.set_num_threads(args.threads)
    config = base_config(args.layers)
    pt_model = bert_torch.BertModel(config, seed=0).eval()
    weights = pt_model.schema_state_dict()
    rows: dict[int, dict[str, float]] = {b: {} for b in batches}
    # torch first, all batch sizes, before TensorFlow starts its thread pools (the two fight over 2 cores).
    for b in batches:
        x_pt = {k: torch.from_numpy(v.astype(np.int64)) for k, v in inputs_for(b, args.seq, config.vocab_size).items()}

        def run_torch():
            with torch.inference_mode():
                pt_model(**x_pt).last_hidden_state.numpy()

        rows[b]["torch"] = median_time(run_torch, args.reps)
    del pt_model

    import tensorflow as tf

    import bert_tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.config.experimental.enable_tensor_float_32_execution(False)
    tf_model = bert_tf.TFBertModel(config)
    tf_model.load_schema_state_dict(weights)
    graph = tf.function(lambda x: tf_model(x, training=False).last_hidden_state)
    jit = tf.function(lambda x: tf_model(x, training=False).last_hidden_state, jit_compile=True)
    print(f"TF {tf.__version__} ({args.threads or 'default'} threads), torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); BertModel "
          f"{args.layers} layers, seq {args.seq}, median of {args.reps}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for b in batches:
        x_tf = {k: tf.constant(v) for k, v in inputs_for(b, args.seq, config.vocab_size).items()}
        rows[b]["tf.function"] = median_time(lambda: graph(x_tf).numpy(), args.reps)
        rows[b]["tf.function+jit"] = median_time(lambda: jit(x_tf).numpy(), args.reps)
        print(f"batch {b:>3}: " + ", ".join(f"{k} {v * 1000:8.1f} ms" for k, v in rows[b].items()), flush=True)
    hf = None if args.no_hf else hf_tf_times(args.layers, batches, args.seq, args.reps, args.threads)
    if isinstance(hf, str):
        print(f"transformers TF: {hf}")
        hf = None
    print("\nratios (time / bert_torch time; transformers TF / ours tf.function):")
    for b in batches:
        r = rows[b]
        line = (f"batch {b:>3}: tf.function {r['tf.function'] / r['torch']:.2f}x torch, "
                f"jit {r['tf.function+jit'] / r['torch']:.2f}x torch")
        if hf:
            line += f", transformers TF {hf[b] * 1000:.1f} ms = {hf[b] / r['tf.function']:.2f}x ours"
        print(line)


if __name__ == "__main__":
    main()
