"""TF heads under ``mixed_bfloat16`` against the same head in float32: time ratio and difference, one process.

For each head (``TFBertModel``, ``TFBertForMaskedLM``: its tied decoder is a [tokens, 768] x [768, 30522] matmul),
a float32 model and a ``mixed_bfloat16`` one with the same weights run the same 8 x 128 batch under
``tf.function``, alternating round by round; the minimum of ``--reps`` calls per round, the median over rounds.
``--mode native|float32|auto`` picks ``bert_tf.kernels.set_low_precision_matmul`` (default auto: measured).
Usage::

    .venv/bin/python bench/tf_bf16_heads.py [--rounds 4] [--reps 2] [--layers 12] [--mode auto]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--mode", default="auto", choices=("auto", "native", "float32"))
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    import bert_tf
    from bert_tf import kernels
    from bench.tf_bench import base_config
    from bench.tf_padding_bench import batches, cpu_line

    print(cpu_line())
    kernels.set_low_precision_matmul(args.mode)
    config = base_config(args.layers)
    x = {n: tf.constant(v) for n, v in batches()["full"].items()}
    calls = {}
    for head in ("TFBertModel", "TFBertForMaskedLM"):
        cls = getattr(bert_tf, head)
        fp32 = cls(config)
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            bf16 = cls(config)
        finally:
            keras.config.set_dtype_policy("float32")
        bf16.load_schema_state_dict(fp32.schema_state_dict())
        out = "logits" if head != "TFBertModel" else "last_hidden_state"
        for name, model in (("fp32", fp32), ("bf16", bf16)):
            fn = tf.function(lambda inputs, m=model: tf.cast(getattr(m(inputs, training=False), out), tf.float32))
            calls[(head, name)] = lambda fn=fn: fn(x).numpy()
        a, b = calls[(head, "fp32")](), calls[(head, "bf16")]()
        rms = np.sqrt(np.mean((a - b) ** 2))
        print(f"{head}: bf16 vs fp32 {out}: max |diff| {np.abs(a - b).max():.3e}, RMS {rms:.3e}")
    times: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
    for _ in range(args.rounds):
        for key, call in calls.items():
            best = float("inf")
            for _ in range(args.reps):
                start = time.perf_counter()
                call()
                best = min(best, time.perf_counter() - start)
            times[key].append(best)
    print(f"batch 8 x 128, {args.layers} layers, low-precision matmuls: {args.mode} "
          f"({kernels.dispatch_table()})")
    for head in ("TFBertModel", "TFBertForMaskedLM"):
        f32, b16 = statistics.median(times[(head, "fp32")]), statistics.median(times[(head, "bf16")])
        print(f"{head:<18} fp32 {f32 * 1000:6.0f} ms   bf16 {b16 * 1000:6.0f} ms   bf16 / fp32 {b16 / f32:.2f}x")


if __name__ == "__main__":
    main()
