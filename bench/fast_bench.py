"""bert_torch's inference fast path (``optimize_for_inference``: measured GEMM backend, padding-free tokens,
fused Q/K/V and GELU) against transformers 4.57.6 and the regular bert_torch path, in one process.

BERT-base-sized BertModel with random weights shared through the schema. Each case is a batch ``batch x seq``
with either every token real (``full``) or ``ragged`` lengths spread evenly over ``seq/8 .. seq`` (right padding).
Runners alternate rep by rep (order reversed each round) so load drift on a shared machine hits all alike; the
table gives microseconds per REAL token (median) and the median of per-round time ratios to transformers in the
same dtype (< 1 = faster than transformers). Setup time (weight packing + the measured dispatch) is reported
separately, as is the max / RMS difference on real tokens (fp32: vs transformers; bf16: vs our fp32). Usage::

    .venv/bin/python bench/fast_bench.py [--quick | --grid] [--dtypes float32,bfloat16] [--reps 3]
                                         [--cases 8x128:full,8x128:ragged] [--layers 12] [--threads N]
                                         [--attention auto|padded,loop] [--runners bert_torch|'']

``--grid``: batch {1, 8, 32} x seq {32, 128, 512}, full and ragged; ``--quick``: batch {1, 8} x seq {32, 128}.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("USE_FLAX", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.inference import base_config, cpu_line, random_weights  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def make_case(batch: int, seq: int, kind: str, vocab: int, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    ids = torch.from_numpy(rng.integers(1, vocab, (batch, seq)))
    mask = torch.ones(batch, seq, dtype=torch.long)
    if kind == "ragged":
        lengths = np.linspace(max(1, seq // 8), seq, batch).round().astype(int) if batch > 1 else [seq]
        for row, length in enumerate(lengths):
            mask[row, length:] = 0
    elif kind != "full":
        raise ValueError(f"case kind must be full or ragged, got {kind!r}")
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros(batch, seq, dtype=torch.long)}


def build_runners(config, weights, dtype: torch.dtype,
                  attention: tuple[str, ...] = ("auto",)) -> tuple[dict[str, torch.nn.Module], dict[str, float]]:
    """transformers, bert_torch (regular) and bert_torch fast (one per attention mode), all in ``dtype``; setup
    seconds of the first fast one (packing + the measured dispatch; later ones reuse the cached dispatch)."""
    import transformers

    from bertzoo.adapters import get_adapter
    hf_config = transformers.BertConfig(**{k: v for k, v in config.to_dict().items()
                                           if k not in ("attn_implementation", "torch_dtype")},
                                        attn_implementation="sdpa")
    hf = transformers.BertModel(hf_config)
    missing, unexpected = hf.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    ours = get_adapter("pt").build(config.copy(attn_implementation="sdpa"), "BertModel", weights).model
    runners = {"transformers": hf.eval().to(dtype), "bert_torch": ours.eval().to(dtype)}
    setup = {}
    for mode in attention:
        fast = get_adapter("pt").build(config.copy(attn_implementation="sdpa"), "BertModel", weights).model
        start = time.perf_counter()
        fast.eval().to(dtype).optimize_for_inference(attention=mode)
        setup.setdefault("fast", time.perf_counter() - start)
        runners["bert_torch-fast" + ("" if mode == "auto" else f"-{mode}")] = fast
    return runners, setup


def time_case(runners, inputs, reps: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runners}
    order = list(runners.items())
    with torch.inference_mode():
        for _, model in order:
            model(**inputs)  # warm-up
        for _ in range(reps):
            for name, model in order:
                start = time.perf_counter()
                model(**inputs)
                times[name].append(time.perf_counter() - start)
            order.reverse()
    return times


def differences(a: torch.Tensor, b: torch.Tensor, keep: torch.Tensor) -> tuple[float, float]:
    d = (a.float() - b.float())[keep.bool()]
    return float(d.abs().max()), float(d.pow(2).mean().sqrt())


def parse_cases(args) -> list[tuple[int, int, str]]:
    if args.grid or args.quick:
        batches, seqs = ((1, 8), (32, 128)) if args.quick else ((1, 8, 32), (32, 128, 512))
        return [(b, s, k) for b in batches for s in seqs for k in ("full", "ragged") if b > 1 or k == "full"]
    out = []
    for part in args.cases.split(","):
        shape, kind = part.split(":")
        batch, seq = shape.split("x")
        out.append((int(batch), int(seq), kind))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="8x128:full,8x128:ragged")
    parser.add_argument("--grid", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--runners", default="bert_torch", help="'bert_torch' to include the regular path, or ''")
    parser.add_argument("--attention", default="auto", help="fast-path attention modes to run, e.g. padded,loop")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(cpu_line(), flush=True)
    config = base_config(args.layers)
    weights = random_weights(config)
    cases = parse_cases(args)
    fp32_out: dict[tuple, torch.Tensor] = {}
    print(f"{'dtype':<9}{'case':<14}{'real':>6}{'runner':>22}{'us/real tok':>13}{'vs transformers':>17}"
          f"{'max diff':>10}{'rms diff':>10}")
    for dtype_name in args.dtypes.split(","):
        dtype = DTYPES[dtype_name]
        runners, setup = build_runners(config, weights, dtype, tuple(args.attention.split(",")))
        runners = {n: m for n, m in runners.items()
                   if n == "transformers" or n.startswith("bert_torch-fast") or n in args.runners.split(",")}
        from bert_torch.kernels import dispatch_table
        table = {k[1:]: (v[0], {n: round(t * 1e3, 1) for n, t in v[1].items()}) for k, v in dispatch_table().items()}
        print(f"[{dtype_name}] fast path setup (pack + measured dispatch): {setup['fast']:.2f} s; dispatch "
              f"(dtype, hidden, intermediate, threads) -> (choice, ms): {table}"
              f"; {[m.fast_path for n, m in runners.items() if n.startswith('bert_torch-fast')]}", flush=True)
        for batch, seq, kind in cases:
            inputs = make_case(batch, seq, kind, config.vocab_size)
            real = int(inputs["attention_mask"].sum())
            times = time_case(runners, inputs, args.reps)
            with torch.inference_mode():
                outs = {n: m(**inputs).last_hidden_state for n, m in runners.items()}
            if dtype == torch.float32:
                fp32_out[(batch, seq, kind)] = next(v for k, v in outs.items() if k.startswith("bert_torch-fast"))
            for name, ts in times.items():
                ratio = statistics.median(t / b for t, b in zip(ts, times["transformers"]))
                ref = outs["transformers"] if dtype == torch.float32 else fp32_out.get((batch, seq, kind))
                diff = differences(outs[name], ref, inputs["attention_mask"]) if ref is not None else (0, 0)
                saved = statistics.median(times["transformers"]) - statistics.median(ts)
                amortised = (f"  setup repaid after {math.ceil(setup['fast'] / saved)} call(s)"
                             if name.startswith("bert_torch-fast") and saved > 0 else "")
                print(f"{dtype_name:<9}{f'{batch}x{seq} {kind}':<14}{real:>6}{name:>22}"
                      f"{statistics.median(ts) / real * 1e6:>13.1f}{ratio:>16.2f}x{diff[0]:>10.1e}{diff[1]:>10.1e}"
                      f"{amortised}", flush=True)
    print("vs transformers: median over rounds of (runner time / transformers time in the same dtype), < 1 = faster."
          "\ndiff: on real tokens; float32 vs transformers float32, bfloat16 vs bert_torch-fast float32.")


if __name__ == "__main__":
    main()
