"""bert_tf forward against transformers 4.57.6's TFBertModel in the same run, alternating rounds (a shared, loaded
machine drifts: compare ratios within one run, not absolute times across runs).

Cases (BERT-base BertModel, random weights shared through the schema, tf.function, batch 8 x 128):
  full     -- every token real (issue 15.1: parity with transformers' TF);
  uneven   -- 8 lengths spread evenly over 16..128, padded to 128 (56% real tokens): ours padded and ours with
              ``skip_padding`` (issue 15.2: <= 0.60x transformers' TF time; real tokens equal to 1e-5);
  bf16     -- ours under ``mixed_bfloat16`` on the full batch against ours in float32 (issue 15.3), with the
              max / RMS difference of ``last_hidden_state`` from float32.
transformers runs in a persistent Keras 2 subprocess (tf-keras, TF_USE_LEGACY_KERAS=1) that times on request, so
its rounds alternate with ours. Usage::

    .venv/bin/python bench/tf_padding_bench.py [--rounds 3] [--reps 2] [--layers 12] [--threads N] [--no-bf16]
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

BATCH, SEQ, VOCAB = 8, 128, 30522


def batches() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    ids = rng.integers(1, VOCAB, size=(BATCH, SEQ)).astype(np.int32)
    lengths = np.linspace(16, SEQ, BATCH).round().astype(int)
    uneven = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
    zeros = np.zeros_like(ids)
    return {"full": {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": zeros},
            "uneven": {"input_ids": ids * uneven, "attention_mask": uneven, "token_type_ids": zeros}}


def timed(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


WORKER = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np, tensorflow as tf
if {threads!r}:
    tf.config.threading.set_intra_op_parallelism_threads({threads!r})
    tf.config.threading.set_inter_op_parallelism_threads({threads!r})
from transformers import BertConfig, TFBertModel
from bench.tf_padding_bench import batches, timed
model = TFBertModel(BertConfig(num_hidden_layers={layers}, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
run = tf.function(lambda x: model(x, training=False).last_hidden_state)
xs = {{k: {{n: tf.constant(v) for n, v in b.items()}} for k, b in batches().items()}}
for x in xs.values():
    run(x).numpy()
print("READY", flush=True)
for line in sys.stdin:
    case, reps = line.split()
    print(json.dumps(timed(lambda: run(xs[case]).numpy(), int(reps))), flush=True)
"""


def start_transformers(layers: int, threads: int | None) -> subprocess.Popen:
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", USE_TORCH="0")
    env.pop("KERAS_BACKEND", None)
    code = WORKER.format(root=ROOT, threads=threads, layers=layers)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        raise RuntimeError("transformers' TF worker failed (is tf-keras installed? pip install tf-keras)")
    return proc


def ask(proc: subprocess.Popen, case: str, reps: int) -> float:
    proc.stdin.write(f"{case} {reps}\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def cpu_line() -> str:
    model, flags = "?", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
    return f"CPU {model}; {os.cpu_count()} CPUs; flags: {' '.join(f for f in wanted if f in flags) or 'none'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=2, help="timed calls per case per round (min is kept)")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-bf16", action="store_true")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    import bert_tf
    from bench.tf_bench import base_config

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    print(cpu_line())
    print(f"TF {tf.__version__}; BertModel {args.layers} layers, batch {BATCH} x {SEQ}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    config = base_config(args.layers)
    model = bert_tf.TFBertModel(config)
    weights = model.schema_state_dict()
    xs = {k: {n: tf.constant(v) for n, v in b.items()} for k, b in batches().items()}
    padded = tf.function(lambda x: model(x, training=False).last_hidden_state)
    packed_model = bert_tf.TFBertModel(config)
    packed_model.load_schema_state_dict(weights)
    packed_model.skip_padding = True
    packed = tf.function(lambda x: packed_model(x, training=False).last_hidden_state)
    ours = {"full": lambda: padded(xs["full"]).numpy(), "uneven": lambda: padded(xs["uneven"]).numpy(),
            "uneven skip_padding": lambda: packed(xs["uneven"]).numpy()}
    real = batches()["uneven"]["attention_mask"].astype(bool)
    diff = np.abs(ours["uneven skip_padding"]()[real] - ours["uneven"]()[real]).max()
    print(f"skip_padding vs padded, real tokens: max |diff| {diff:.2e}")
    if not args.no_bf16:
        keras.config.set_dtype_policy("mixed_bfloat16")
        bf16_model = bert_tf.TFBertModel(config)
        keras.config.set_dtype_policy("float32")
        bf16_model.load_schema_state_dict(weights)
        bf16 = tf.function(lambda x: tf.cast(bf16_model(x, training=False).last_hidden_state, tf.float32))
        ours["full bf16"] = lambda: bf16(xs["full"]).numpy()
        d = ours["full bf16"]() - ours["full"]()
        print(f"mixed_bfloat16 vs float32 last_hidden_state: max |diff| {np.abs(d).max():.3e}, "
              f"RMS {np.sqrt(np.mean(d ** 2)):.3e} (float32 RMS {np.sqrt(np.mean(ours['full']() ** 2)):.3f})")
    for fn in ours.values():
        fn()  # trace
    hf = start_transformers(args.layers, args.threads)
    times: dict[str, list[float]] = {}
    try:
        for r in range(args.rounds):
            for case in ("full", "uneven"):
                times.setdefault(f"transformers {case}", []).append(ask(hf, case, args.reps))
            for name, fn in ours.items():
                times.setdefault(f"ours {name}", []).append(timed(fn, args.reps))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in times.items()), flush=True)
    finally:
        hf.stdin.close()
        hf.wait()
    med = {k: statistics.median(v) for k, v in times.items()}
    per_round = lambda a, b: statistics.median(x / y for x, y in zip(times[a], times[b]))  # noqa: E731
    print("\nmedian over rounds of the per-round ratio:")
    print(f"  full: ours / transformers            {per_round('ours full', 'transformers full'):.2f}")
    print(f"  uneven: ours padded / transformers   {per_round('ours uneven', 'transformers uneven'):.2f}")
    print(f"  uneven: ours skip_padding / transformers {per_round('ours uneven skip_padding', 'transformers uneven'):.2f}")
    if "ours full bf16" in times:
        print(f"  full: ours bf16 / ours fp32          {per_round('ours full bf16', 'ours full'):.2f}")
    print("medians (ms): " + ", ".join(f"{k} {v * 1000:.0f}" for k, v in med.items()))


if __name__ == "__main__":
    main()
