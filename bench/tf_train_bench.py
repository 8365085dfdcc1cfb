"""One AdamW step of BERT-base pre-training (MLM + NSP, batch 8 x 128, float32, dropout 0.1) in bert_tf against
transformers 4.57.6's TFBertForPreTraining, in alternating rounds (a shared, loaded machine drifts: compare the
per-round ratios of one run).

bert_tf runs what ``bertzoo train --framework tf`` runs: ``bert_tf.train.TrainingModule`` + ``bert_tf.schedules``'
AdamW via ``train_on_batch`` (variants: ``graph`` = MLM head at the labelled positions only, tf.function;
``jit`` = whole step XLA-compiled, dense MLM head). transformers runs in a persistent Keras 2 subprocess (tf-keras)
timing on request: tape, global-norm clip 1.0, ``tf.keras.optimizers.AdamW``. Usage::

    .venv/bin/python bench/tf_train_bench.py [--rounds 3] [--reps 2] [--layers 12] [--variants graph[,jit]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from bench.tf_padding_bench import cpu_line, timed  # noqa: E402
from bench.transformers_tf import TransformersTFStep  # noqa: E402

def ours(config, weights, batch, training, variant: str):
    import bert_tf
    from bert_tf.schedules import build_optimizer
    from bert_tf.train import TrainingModule, schema_variables

    model = bert_tf.TFBertForPreTraining(config)
    model.load_schema_state_dict(weights)
    jit = variant == "jit"
    module = TrainingModule(model, sparse_mlm=not jit)
    module.compile(optimizer=build_optimizer(schema_variables(model), training), jit_compile=jit)
    inputs = {k: v.astype(np.int32) for k, v in batch.items()}
    return lambda: float(module.train_on_batch(inputs, return_dict=True)["step_loss"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=2, help="timed steps per runner per round (min is kept)")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--variants", default="graph", help="graph and/or jit (XLA was 0.83x transformers here)")
    args = parser.parse_args()
    from bench.train_step import base_config, make_batch, random_weights
    from bert_core.training import TrainingConfig

    config = base_config(args.layers).copy(attn_implementation="eager")
    batch = make_batch(config, 8, 128)
    training = TrainingConfig(learning_rate=1e-4, warmup_steps=2, total_steps=1000, batch_size=8, max_seq_length=128)
    print(cpu_line())
    print(f"BERT-base pre-training step, {args.layers} layers, batch 8 x 128, dropout 0.1; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    runners = {v: ours(config, random_weights(config), batch, training, v) for v in args.variants.split(",")}
    for run in runners.values():
        run(), run()  # trace / compile, optimizer slots
    hf = TransformersTFStep(args.layers, batch)
    try:
        times: dict[str, list[float]] = {}
        for r in range(args.rounds):
            times.setdefault("transformers", []).append(hf.time(args.reps))
            for name, run in runners.items():
                times.setdefault(f"ours {name}", []).append(timed(run, args.reps))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    finally:
        hf.close()
    print("\nspeed vs transformers' TF (median over rounds of the per-round ratio, > 1 = ours faster):")
    for name in runners:
        ratio = statistics.median(h / o for h, o in zip(times["transformers"], times[f"ours {name}"]))
        print(f"  ours {name}: {ratio:.2f}x  (median {statistics.median(times[f'ours {name}']):.2f} s/step; "
              f"transformers {statistics.median(times['transformers']):.2f} s/step)")


if __name__ == "__main__":
    main()
