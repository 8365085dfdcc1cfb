"""Forward-pass speed of a BERT-base-sized model in each framework, against transformers 4.57.6 in the same run.

Random weights (one schema state dict, so every framework runs the same model), float32, sequence 128, batch 1,
8 and 32, ``attention_mask`` of ones. For each batch size the frameworks run interleaved, rep by rep, so machine
load drifts hit them alike; the median time is reported with the achieved GFLOP/s (model FLOPs counted
analytically) and its share of a plain 2048x2048 float32 matmul measured in the same run, and each framework's
time as a ratio to transformers' (``> 1`` = faster than transformers). On a shared machine the matmul is
measured before and after each batch size and the best is the reference. ``--processes`` runs each framework
in its own long-lived process (rounds still alternate), so no framework's threads spin beside another's.

One function per framework builds a runner: ``runner_<name>(config, weights) -> callable(inputs)``. Add a
framework by writing its function and listing it in ``RUNNERS``. Usage::

    .venv/bin/python bench/inference.py [--frameworks torch,torch-fast,transformers,flax,tf,tf-xla] [--batches 1,8,32]
                                        [--seq 128] [--reps 1:6,8:3,32:2] [--threads N] [--layers 12]
                                        [--processes]

transformers' own TF and Flax models cannot run beside Keras 3 / Flax 0.12 in one process: bench/tf_bench.py
measures transformers' TF in a Keras 2 subprocess, and bench/flax_bench.py compares our Flax with our PyTorch.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("USE_TF", "0")  # transformers must not import TensorFlow for the torch baseline
os.environ.setdefault("USE_FLAX", "0")
from bert_core import BertConfig
from bertzoo.adapters import get_adapter

BASELINE = "transformers"
Inputs = dict[str, np.ndarray]


def base_config(layers: int = 12) -> BertConfig:
    return BertConfig(hidden_size=768, num_hidden_layers=layers, num_attention_heads=12, intermediate_size=3072,
                      vocab_size=30522, max_position_embeddings=512, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


def cpu_line() -> str:
    """CPU model and the SIMD / matrix flags that decide GEMM speed (Linux /proc/cpuinfo, else platform)."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = [x for x in line.split(":", 1)[1].split() if x.startswith(("avx", "amx", "fma"))]
                    break
    except OSError:
        pass
    import torch
    return (f"CPU: {model}; {os.cpu_count()} cores; flags: {' '.join(flags) or '?'}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} thread(s), capability {torch.backends.cpu.get_cpu_capability()}; "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")


def model_flops(config: BertConfig, batch: int, seq: int) -> float:
    """Multiply-add FLOPs (2 per MAC) of the encoder and pooler; embeddings, LayerNorm, softmax left out."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token_layer = 2 * (4 * h * h + 2 * h * i) + 2 * 2 * seq * h  # projections + FFN + QK^T and PV
    return batch * seq * layers * per_token_layer + 2 * batch * h * h


def random_weights(config: BertConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """The model's weights in the interchange schema (numpy), initialised as transformers does."""
    adapter = get_adapter("pt")
    return adapter.state_dict(adapter.build(config, "BertModel", seed=seed))


# -- one runner per framework ---------------------------------------------------------------------------------
def runner_torch(config: BertConfig, weights: dict[str, np.ndarray], fast: bool = False):
    import torch

    model = get_adapter("pt").build(config.copy(attn_implementation="sdpa"), "BertModel", weights).model
    if fast:  # measured GEMM dispatch + weight packing, timed: its cost is reported, not hidden
        start = time.perf_counter()
        model.optimize_for_inference()
        print(f"torch-fast setup (pack + measured dispatch): {time.perf_counter() - start:.2f} s, "
              f"{model.fast_path!r}", flush=True)

    def run(inputs: Inputs):
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).last_hidden_state
    return run


def runner_transformers(config: BertConfig, weights: dict[str, np.ndarray]) -> Callable[[Inputs], object]:
    import torch
    import transformers
    hf_config = transformers.BertConfig(**{k: v for k, v in config.to_dict().items()
                                           if k not in ("attn_implementation", "torch_dtype")},
                                        attn_implementation="sdpa")
    model = transformers.BertModel(hf_config)
    assert model.config._attn_implementation == "sdpa"
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()

    def run(inputs: Inputs):
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).last_hidden_state
    return run


def runner_flax(config: BertConfig, weights: dict[str, np.ndarray]) -> Callable[[Inputs], object]:
    model = get_adapter("flax").build(config, "BertModel", weights).model

    def run(inputs: Inputs):  # the wrapper checks ids on the host, then calls its cached jax.jit
        return model(**{k: v.astype(np.int32) for k, v in inputs.items()}).last_hidden_state
    return run


def runner_tf(config: BertConfig, weights: dict[str, np.ndarray], jit_compile: bool = False):
    import tensorflow as tf

    model = get_adapter("tf").build(config, "BertModel", weights).model
    forward = tf.function(lambda ids, mask, types: model(input_ids=ids, attention_mask=mask, token_type_ids=types)
                          .last_hidden_state, jit_compile=jit_compile)

    def run(inputs: Inputs):
        return forward(*(tf.constant(inputs[k].astype(np.int32)) for k in ("input_ids", "attention_mask",
                                                                           "token_type_ids"))).numpy()
    return run


RUNNERS: dict[str, Callable[[BertConfig, dict[str, np.ndarray]], Callable[[Inputs], object]]] = {
    "torch": runner_torch,
    "torch-fast": lambda config, weights: runner_torch(config, weights, fast=True),
    "transformers": runner_transformers,
    "flax": runner_flax,
    "tf": runner_tf,
    "tf-xla": lambda config, weights: runner_tf(config, weights, jit_compile=True),
}


# -- one process per framework (--processes) ------------------------------------------------------------------
def subject(name: str, layers: int, threads: int | None, batch: int, seq: int) -> Callable[[], object]:
    """``RUNNERS[name]`` on one batch as a blocking zero-argument call (``bench/procs.py`` runs it in a child)."""
    if threads:
        import torch
        torch.set_num_threads(threads)
    config = base_config(layers)
    run, inputs = RUNNERS[name](config, random_weights(config)), make_inputs(config, batch, seq)
    return lambda: _block(run(inputs))


def _block(out: object) -> None:
    if hasattr(out, "block_until_ready"):  # JAX dispatches asynchronously
        out.block_until_ready()


# -- measurement ----------------------------------------------------------------------------------------------
def matmul_gflops(reps: int = 5, n: int = 2048) -> float:
    """Best-of-``reps`` GFLOP/s of a plain n x n float32 matmul (torch if present, else numpy)."""
    try:
        import torch
        a, b = torch.randn(n, n), torch.randn(n, n)
        mm = torch.mm
    except ImportError:
        a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
        mm = np.matmul
    mm(a, b)
    best = min(_timed(lambda: mm(a, b)) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    _block(fn())
    return time.perf_counter() - start


def make_inputs(config: BertConfig, batch: int, seq: int, seed: int = 0) -> Inputs:
    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(1, config.vocab_size, (batch, seq)).astype(np.int64),
            "attention_mask": np.ones((batch, seq), np.int64),
            "token_type_ids": np.zeros((batch, seq), np.int64)}


def parse_reps(text: str, batches: list[int]) -> dict[int, int]:
    """"1:6,8:3,32:2" or a single number for every batch size."""
    if ":" not in text:
        return {b: int(text) for b in batches}
    table = {int(k): int(v) for k, v in (part.split(":") for part in text.split(","))}
    return {b: table.get(b, min(table.values())) for b in batches}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default="torch,transformers",
                        help=f"comma-separated, from {', '.join(RUNNERS)}")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--reps", default="1:6,8:3,32:2", help="timed repeats per batch size")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--processes", action="store_true",
                        help="run each framework in its own long-lived process (no thread pools shared)")
    args = parser.parse_args(argv)
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in frameworks if f not in RUNNERS]
    if unknown:
        parser.error(f"unknown framework(s) {', '.join(unknown)}; choose from {', '.join(RUNNERS)}")
    batches = [int(b) for b in args.batches.split(",")]
    reps = parse_reps(args.reps, batches)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)

    print(cpu_line(), flush=True)
    config = base_config(args.layers)
    if args.processes:
        from procs import Subject  # bench/ is sys.path[0] when this runs as a script
        print("each framework in its own long-lived process, rounds alternating", flush=True)
        runners = dict.fromkeys(frameworks)  # a process per framework and batch size, one batch size at a time
        timed = lambda run, inputs, batch: run.time(1)[0][0]  # noqa: E731
    else:
        weights = random_weights(config)
        runners = {}
        for name in frameworks:
            try:
                runners[name] = RUNNERS[name](config, weights)
            except ImportError as e:
                print(f"skipping {name}: {e}")
        timed = lambda run, inputs, batch: _timed(lambda: run(inputs))  # noqa: E731
    import torch
    peaks = [matmul_gflops()]
    rows = []
    for batch in batches:
        inputs = make_inputs(config, batch, args.seq)
        times: dict[str, list[float]] = {name: [] for name in runners}
        if args.processes:
            runners = {name: Subject(subject, name, args.layers, args.threads, batch, args.seq) for name in runners}
        for run in runners.values():
            timed(run, inputs, batch)  # warm-up
        order = list(runners.items())
        for _ in range(reps[batch]):
            for name, run in order:
                times[name].append(timed(run, inputs, batch))
            order.reverse()  # alternate who runs first, so neither always meets a warmer or cooler machine
        print(f"batch {batch}: " + ", ".join(f"{n} {' '.join(f'{t * 1e3:.0f}' for t in ts)} ms"
                                            for n, ts in times.items()), flush=True)
        rows.append((batch, times))
        if args.processes:
            for process in runners.values():
                process.close()
        peaks.append(matmul_gflops())  # the machine's state drifts: measure the baseline throughout
    peak = max(peaks)
    print(f"\nBERT-base-sized: hidden 768, {config.num_hidden_layers} layers, 12 heads, intermediate 3072, vocab "
          f"30522, seq {args.seq}, float32, inference_mode, {torch.get_num_threads()} torch thread(s).\n"
          f"2048x2048 float32 matmul: best {peak:.1f} GFLOP/s (measured {len(peaks)} times: "
          f"{', '.join(f'{p:.0f}' for p in peaks)})")
    print(f"{'framework':<14}{'batch':>6}{'reps':>5}{'median ms':>11}{'GFLOP/s':>9}{'% matmul':>9}"
          f"{'speed vs ' + BASELINE:>23}{'paired':>8}")
    for batch, times in rows:
        flops = model_flops(config, batch, args.seq)
        base = statistics.median(times[BASELINE]) if BASELINE in times else None
        for name, ts in times.items():
            t = statistics.median(ts)
            ratio = f"{base / t:.2f}x" if base else "-"
            paired = (f"{statistics.median(b / x for b, x in zip(times[BASELINE], ts)):.2f}x" if base else "-")
            print(f"{name:<14}{batch:>6}{len(ts):>5}{t * 1e3:>11.1f}{flops / t / 1e9:>9.1f}"
                  f"{100 * flops / t / 1e9 / peak:>8.0f}%{ratio:>23}{paired:>8}")
    print("speed vs transformers: ratio of medians; paired: median of the per-repeat ratios (> 1 = faster).")

if __name__ == "__main__":
    main()
