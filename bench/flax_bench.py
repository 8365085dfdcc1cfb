"""Speed of bert_flax against bert_torch, measured in the same run (ratios, never absolute claims).

    python bench/flax_bench.py [--batches 1,8,32] [--seq 128] [--repeats 5] [--train-batch 8] [--no-torch]

Times, on random BERT-base weights (hidden 768, 12 layers, vocab 30522):
- inference: ``FlaxBertModel`` called as users call it (host input checks + the cached ``jax.jit`` forward) at
  batch 1/8/32 x seq 128, against ``bert_torch.BertModel`` under ``torch.inference_mode()``;
- training: one step (forward + backward + AdamW) of the masked LM head at batch 8 x 128: a jitted
  ``optax.adamw`` step with donated buffers against ``loss.backward(); torch.optim.AdamW.step()``.
Reports median seconds, GFLOP/s (matmul FLOPs of the encoder) and the torch/flax time ratio (> 1: Flax faster).
transformers' own Flax BERT (which runs on this Flax with USE_TORCH=0 USE_TF=0) is timed against bert_flax in
``bench/flax_vs_transformers.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np  # noqa: E402

BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
            max_position_embeddings=512)


def encoder_flops(batch: int, seq: int, cfg: dict = BASE) -> float:
    """Matmul FLOPs of one encoder forward: projections, feed-forward and the two attention products."""
    h, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    per_token = 4 * h * h + 2 * h * inter + 2 * seq * h
    return 2.0 * batch * seq * layers * per_token


def timeit(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def inputs(batch: int, seq: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, BASE["vocab_size"], size=(batch, seq)).astype(np.int32)
    mask = np.ones((batch, seq), np.int32)
    mask[-1, seq // 2:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def mlm_labels(batch: int, seq: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, BASE["vocab_size"], size=(batch, seq))
    labels[rng.random((batch, seq)) > 0.15] = -100
    return labels


# -- Flax ------------------------------------------------------------------------------------------------------
def flax_forward(batch: int, seq: int, repeats: int, model=None) -> float:
    import jax

    import bert_flax
    from bert_core import BertConfig

    model = model or bert_flax.FlaxBertModel(BertConfig(**BASE))
    x = inputs(batch, seq)
    return timeit(lambda: jax.block_until_ready(model(**x).last_hidden_state), repeats)


def flax_train_step(batch: int, seq: int, repeats: int) -> float:
    import jax
    import optax

    import bert_flax
    from bert_core import BertConfig

    model = bert_flax.FlaxBertForMaskedLM(BertConfig(**BASE))
    tx = optax.adamw(1e-4, weight_decay=0.01)
    data = {**inputs(batch, seq), "labels": mlm_labels(batch, seq)}

    def step(params, opt_state, batch_data, rng):
        loss_fn = lambda p: model(**batch_data, params=p, train=True, dropout_rng=rng).loss  # noqa: E731
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    state = {"params": model.params, "opt": tx.init(model.params), "rng": jax.random.PRNGKey(0)}

    def run():
        state["rng"], rng = jax.random.split(state["rng"])
        state["params"], state["opt"], loss = step(state["params"], state["opt"], data, rng)
        jax.block_until_ready(loss)

    return timeit(run, repeats)


# -- PyTorch ---------------------------------------------------------------------------------------------------
def torch_forward(batch: int, seq: int, repeats: int, model=None) -> float:
    import torch

    import bert_torch
    from bert_core import BertConfig

    model = model or bert_torch.BertModel(BertConfig(**BASE)).eval()
    x = {k: torch.from_numpy(v.astype(np.int64)) for k, v in inputs(batch, seq).items()}

    def run():
        with torch.inference_mode():
            model(**x)

    return timeit(run, repeats)


def torch_train_step(batch: int, seq: int, repeats: int) -> float:
    import torch

    import bert_torch
    from bert_core import BertConfig

    model = bert_torch.BertForMaskedLM(BertConfig(**BASE)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    data = {k: torch.from_numpy(v.astype(np.int64)) for k, v in inputs(batch, seq).items()}
    labels = torch.from_numpy(mlm_labels(batch, seq))

    def run():
        opt.zero_grad(set_to_none=True)
        model(**data, labels=labels).loss.backward()
        opt.step()

    return timeit(run, repeats)


def _torch_available() -> bool:
    try:
        import bert_torch  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def worker(framework: str, batches: list[int], seq: int, repeats: int, train_batch: int | None,
           torch_threads: int | None = None) -> dict:
    """Time one framework (run in its own process, so XLA's and torch's thread pools never compete)."""
    from bert_core import BertConfig

    out: dict[str, float] = {}
    if framework == "flax":
        import bert_flax
        model = bert_flax.FlaxBertModel(BertConfig(**BASE))
        forward, train = flax_forward, flax_train_step
    else:
        import torch

        import bert_torch
        if torch_threads:
            torch.set_num_threads(torch_threads)
        model = bert_torch.BertModel(BertConfig(**BASE)).eval()
        forward, train = torch_forward, torch_train_step
    for batch in batches:
        out[f"forward b{batch}x{seq}"] = forward(batch, seq, max(2, repeats if batch <= 8 else repeats // 2), model)
    del model
    if train_batch:
        out[f"train step b{train_batch}x{seq}"] = train(train_batch, seq, max(2, repeats // 2))
    return out


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    import json
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads (OpenMP threads spin on oversubscribed cores; default torch's)")
    parser.add_argument("--worker", choices=["flax", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    train_batch = None if args.no_train else args.train_batch
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, batches, args.seq, args.repeats, train_batch,
                                            args.torch_threads)))
        return {}

    import jax

    with_torch = not args.no_torch and _torch_available()
    print(f"bert_flax vs bert_torch, BERT-base random weights, seq {args.seq}; jax {jax.__version__} on "
          f"{jax.devices()[0].platform}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          "each framework timed in its own process, median of repeats")
    print("transformers' Flax BERT: see bench/flax_vs_transformers.py.")
    if not with_torch:
        print("bert_torch not importable: Flax numbers only.")
    timings = {}
    for fw in ["flax"] + (["torch"] if with_torch else []):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", fw, "--batches", args.batches, "--seq",
               str(args.seq), "--repeats", str(args.repeats), "--train-batch", str(args.train_batch)]
        if args.no_train:
            cmd.append("--no-train")
        if args.torch_threads:
            cmd += ["--torch-threads", str(args.torch_threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            raise RuntimeError(f"{fw} worker failed:\n{proc.stdout}\n{proc.stderr}")
        timings[fw] = json.loads(line[len("RESULT "):])
    print(f"{'case':<22}{'flax s':>10}{'torch s':>10}{'flax GFLOP/s':>14}{'torch GFLOP/s':>15}{'torch/flax':>12}")
    results: dict[str, dict[str, float]] = {}
    for case, f in timings["flax"].items():
        t = timings.get("torch", {}).get(case, float("nan"))
        batch = int(case.split(" b")[1].split("x")[0])
        gf = encoder_flops(batch, args.seq) / 1e9 * (3 if case.startswith("train") else 1)  # fwd+bwd ~ 3x
        results[case] = {"flax_s": f, "torch_s": t, "flax_gflops": gf / f, "torch_gflops": gf / t, "ratio": t / f}
        _row(case, results[case])
    print("torch/flax > 1: Flax is faster. GFLOP/s counts encoder matmul FLOPs (training: 3x forward).")
    return results


def _row(name: str, r: dict[str, float]) -> None:
    print(f"{name:<22}{r['flax_s']:>10.4f}{r['torch_s']:>10.4f}{r['flax_gflops']:>14.1f}{r['torch_gflops']:>15.1f}"
          f"{r['ratio']:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
