"""bert_flax against transformers' Flax BERT (the incumbent), BERT-base random weights, in one process.

    USE_TORCH=0 USE_TF=0 python bench/flax_vs_transformers.py [--cases fixed,packed,bf16] [--rounds 7]

The machine may be shared and loaded: every case times its variants in alternating rounds and reports, per
variant, the median over rounds of (variant time / reference time in the same round), never absolute claims.
- fixed: batch 8 x 128, fp32 forward. transformers: ``jax.jit`` of ``model(ids, attention_mask=..., params=p)``
  (its ``__call__`` is not jitted); bert_flax: ``model(ids, attention_mask=...)`` (its own cached jit).
- packed: 8 sequences, lengths spread evenly over 16..128 (56% real tokens). transformers: the padded 8 x 128 batch;
  bert_flax: the same padded batch, and ``bert_flax.packing.packed_forward`` on the list (packing on the host
  included). Also prints the largest difference of the packed outputs from the padded ones on real tokens.
- bf16: bert_flax fp32 against ``dtype=bfloat16`` with fp32 params and with bf16 params (``to_bf16``); prints
  max and RMS difference of ``last_hidden_state`` from fp32.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any, Callable

import numpy as np

os.environ.setdefault("USE_TORCH", "0")
os.environ.setdefault("USE_TF", "0")

BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
            max_position_embeddings=512)
SPREAD = [16 + round(i * (128 - 16) / 7) for i in range(8)]  # 16, 32, ..., 128


def cpu_description() -> str:
    model, flags = platform.processor() or "?", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("?", "x86_64", ""):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = [x for x in line.split(":", 1)[1].split()
                             if x.startswith(("avx", "amx", "fma")) or x in ("f16c",)]
                    break
    except OSError:
        pass
    return f"{model}; {os.cpu_count()} CPUs; flags: {' '.join(flags) or '?'}"


def alternate(fns: dict[str, Callable[[], Any]], rounds: int, reference: str) -> dict[str, float]:
    """Median over rounds of each variant's time divided by the reference's time in the same round."""
    import jax

    for fn in fns.values():
        jax.block_until_ready(fn())  # compile / warm up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        order = list(fns) if r % 2 == 0 else list(fns)[::-1]
        for name in order:
            start = time.perf_counter()
            jax.block_until_ready(fns[name]())
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(a / b for a, b in zip(v, times[reference])) for k, v in times.items()}


def padded(lengths: list[int], seq: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), seq), np.int32)
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, BASE["vocab_size"], size=n)
        mask[i, :n] = 1
    return ids, mask


def models(dtype=None):
    import jax
    import transformers

    import bert_flax
    from bert_core import BertConfig

    theirs = transformers.FlaxBertModel(transformers.BertConfig(**BASE), seed=0)
    ours = bert_flax.FlaxBertModel(BertConfig(**BASE))
    ours.params = jax.tree_util.tree_map(np.asarray, theirs.params)
    hf_jit = jax.jit(lambda p, ids, mask: theirs(ids, attention_mask=mask, params=p).last_hidden_state)
    return theirs, ours, hf_jit


def case_fixed(rounds: int) -> None:
    theirs, ours, hf_jit = models()
    ids, mask = padded([128] * 7 + [64])
    fns = {"transformers": lambda: hf_jit(theirs.params, ids, mask),
           "bert_flax": lambda: ours(ids, attention_mask=mask).last_hidden_state}
    diff = np.abs(np.asarray(fns["transformers"]()) - np.asarray(fns["bert_flax"]())).max()
    print(f"fixed 8x128 fp32: max |bert_flax - transformers| = {diff:.2e}")
    for k, v in alternate(fns, rounds, "transformers").items():
        print(f"  {k:<14} time / transformers = {v:.3f}")


def case_packed(rounds: int) -> None:
    from bert_flax.packing import pack, packed_forward

    theirs, ours, hf_jit = models()
    ids, mask = padded(SPREAD)
    seqs = [ids[i, :n].tolist() for i, n in enumerate(SPREAD)]
    print(f"packed: lengths {SPREAD} ({sum(SPREAD) / ids.size:.0%} real tokens); {pack(seqs)!r}")
    fns = {"transformers padded": lambda: hf_jit(theirs.params, ids, mask),
           "bert_flax padded": lambda: ours(ids, attention_mask=mask).last_hidden_state,
           "bert_flax packed": lambda: packed_forward(ours, seqs)}
    ref = ours(ids, attention_mask=mask)
    worst = 0.0
    hidden, pooled = np.asarray(ref.last_hidden_state), np.asarray(ref.pooler_output)
    for i, res in enumerate(fns["bert_flax packed"]()):
        worst = max(worst, float(np.abs(res["last_hidden_state"] - hidden[i, :SPREAD[i]]).max()),
                    float(np.abs(res["pooler_output"] - pooled[i]).max()))
    print(f"  packed vs padded on real tokens (hidden + pooler): max diff {worst:.2e}")
    for k, v in alternate(fns, rounds, "transformers padded").items():
        print(f"  {k:<20} time / transformers padded = {v:.3f}")


def case_bf16(rounds: int) -> None:
    import jax.numpy as jnp

    import bert_flax
    from bert_core import BertConfig

    cfg = BertConfig(**BASE)
    fp32 = bert_flax.FlaxBertModel(cfg)
    bf16 = bert_flax.FlaxBertModel(cfg, dtype=jnp.bfloat16, _do_init=False)
    bf16.params = fp32.params
    p16 = fp32.to_bf16()
    ids, mask = padded([128] * 7 + [64])
    fns = {"fp32": lambda: fp32(ids, attention_mask=mask).last_hidden_state,
           "bf16 fp32 params": lambda: bf16(ids, attention_mask=mask).last_hidden_state,
           "bf16 bf16 params": lambda: bf16(ids, attention_mask=mask, params=p16).last_hidden_state}
    ref = np.asarray(fns["fp32"](), np.float64)
    for k in list(fns)[1:]:
        d = np.asarray(fns[k]()).astype(np.float64) - ref
        print(f"  {k:<18} vs fp32: max {np.abs(d).max():.3e}  RMS {np.sqrt((d ** 2).mean()):.3e} "
              f"(fp32 RMS {np.sqrt((ref ** 2).mean()):.3f})")
    for k, v in alternate(fns, rounds, "fp32").items():
        print(f"  {k:<18} time / fp32 = {v:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="fixed,packed,bf16")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    import jax

    print(f"CPU: {cpu_description()}")
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; load average {os.getloadavg()[0]:.1f}; "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; {args.rounds} alternating rounds, median of ratios")
    cases = {"fixed": case_fixed, "packed": case_packed, "bf16": case_bf16}
    for name in args.cases.split(","):
        cases[name](args.rounds)


if __name__ == "__main__":
    main()
