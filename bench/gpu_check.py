"""CUDA checks for bench/gpu_check.sh: parity of bert_torch and bert_flax on the GPU, then speed against
transformers. Every check prints one ``PASS`` / ``FAIL`` line; the exit status is the number of failures.

Parity (TF32 off, so float32 GEMMs are true float32):
  * bert_torch on CUDA vs bert_torch on CPU, float32, every head's first output: max |diff| <= 1e-4;
  * the fast path (``optimize_for_inference``) on CUDA vs the regular path on CUDA, ragged batch, real tokens;
  * bfloat16 vs float32 on CUDA: cosine of mean-pooled states >= 0.999 (max / RMS diff printed);
  * bert_flax on the JAX GPU backend vs bert_torch on CPU, float32: <= 1e-4 (skipped if JAX sees no GPU).
Speed (BERT-base, random weights): forward batch 32 x 128 (float32 and bfloat16) and one training step
(float32, AdamW) for transformers, bert_torch and bert_torch's fast path, alternating rounds; ratios printed.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("USE_FLAX", "0")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX must leave GPU memory to torch

import numpy as np  # noqa: E402
import torch  # noqa: E402

import bert_torch  # noqa: E402
from bert_core import HEADS, BertConfig  # noqa: E402

FAILURES: list[str] = []


def report(name: str, ok: bool, detail: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        FAILURES.append(name)


def tiny(**kw) -> BertConfig:
    return BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=37, max_position_embeddings=64, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, num_labels=2, **kw)


def ragged(batch: int, seq: int, vocab: int, device) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (batch, seq), generator=gen)
    mask = torch.ones(batch, seq, dtype=torch.long)
    for row, length in enumerate(np.linspace(max(1, seq // 8), seq, batch).round().astype(int)):
        mask[row, length:] = 0
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device),
            "token_type_ids": torch.zeros_like(ids).to(device)}


def parity() -> None:
    cuda = torch.device("cuda")
    inputs = ragged(4, 16, 99, "cpu")
    for head in HEADS:
        model = bert_torch.MODEL_CLASSES[head](tiny(), seed=0).eval()
        kw = {k: v.unsqueeze(1).expand(-1, 2, -1) for k, v in inputs.items()} if "Multiple" in head else inputs
        with torch.no_grad():
            ref = model(**kw)[0]
            got = model.to(cuda)(**{k: v.to(cuda) for k, v in kw.items()})[0].cpu()
        diff = float((got - ref).abs().max())
        report(f"torch cuda == cpu float32 [{head}]", diff <= 1e-4, f"max diff {diff:.2e}")
    model = bert_torch.BertModel(tiny(attn_implementation="sdpa"), seed=0).eval().to(cuda)
    batch = ragged(8, 48, 99, cuda)
    keep = batch["attention_mask"].bool()
    with torch.no_grad():
        ref = model(**batch).last_hidden_state
        fast = model.optimize_for_inference()(**batch).last_hidden_state
        diff = float((fast - ref)[keep].abs().max())
        report("torch cuda fast path == regular (real tokens)", diff <= 1e-4,
               f"max diff {diff:.2e}, backend {model.fast_path.backend}")
        half = model.optimize_for_inference(enabled=False).to(torch.bfloat16)(**batch).last_hidden_state.float()
        fast16 = model.optimize_for_inference()(**batch).last_hidden_state.float()
    m = keep[..., None].float()
    for name, out in (("regular", half), ("fast", fast16)):
        cos = torch.nn.functional.cosine_similarity((out * m).sum(1), (ref * m).sum(1), dim=-1).min()
        d = (out - ref)[keep]
        report(f"torch cuda bfloat16 vs float32 [{name}]", bool(cos >= 0.999),
               f"pooled cosine min {cos:.5f}, max diff {d.abs().max():.2e}, rms {d.pow(2).mean().sqrt():.2e}")
    try:
        import jax

        import bert_flax
    except ImportError as e:
        print(f"SKIP flax on GPU: {e}")
        return
    if not any(d.platform == "gpu" for d in jax.devices()):
        print(f"SKIP flax on GPU: JAX sees {jax.devices()} (install jax[cuda12])")
        return
    jax.config.update("jax_default_matmul_precision", "highest")
    tm = bert_torch.BertModel(tiny(), seed=0).eval()
    fm = bert_flax.BertModel(tiny(), seed=1)
    fm.load_schema_state_dict(tm.schema_state_dict())
    with torch.no_grad():
        ref = tm(**inputs).last_hidden_state.numpy()
    got = np.asarray(fm(**{k: v.numpy().astype(np.int32) for k, v in inputs.items()}).last_hidden_state)
    diff = float(np.abs(got - ref).max())
    report(f"flax on {jax.devices()[0].platform} == torch cpu float32", diff <= 1e-4, f"max diff {diff:.2e}")


def _timed_rounds(fns: dict, reps: int) -> dict[str, float]:
    times = {name: [] for name in fns}
    order = list(fns.items())
    for _, fn in order:
        fn()
    torch.cuda.synchronize()
    for _ in range(reps):
        for name, fn in order:
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
        order.reverse()
    return {name: statistics.median(ts) for name, ts in times.items()}


def speed(batch: int = 32, seq: int = 128, reps: int = 10) -> None:
    import transformers

    from bench.inference import base_config, random_weights
    config = base_config()
    weights = random_weights(config)
    hf = transformers.BertModel(transformers.BertConfig(**{k: v for k, v in config.to_dict().items() if k not in (
        "attn_implementation", "torch_dtype")}, attn_implementation="sdpa"))
    hf.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    ours = bert_torch.BertModel(config.copy(attn_implementation="sdpa"))
    ours.load_schema_state_dict(weights)
    for kind in ("full", "ragged"):
        inputs = ragged(batch, seq, config.vocab_size, "cuda")
        if kind == "full":
            inputs["attention_mask"].fill_(1)
        for dtype in (torch.float32, torch.bfloat16):
            hf_m, ours_m = hf.to("cuda", dtype).eval(), ours.to("cuda", dtype).eval()
            fast = bert_torch.BertModel(config.copy(attn_implementation="sdpa")).to("cuda", dtype).eval()
            fast.load_state_dict(ours_m.state_dict())
            fast.optimize_for_inference()
            with torch.inference_mode():
                t = _timed_rounds({n: (lambda m=m: m(**inputs)) for n, m in
                                   (("transformers", hf_m), ("bert_torch", ours_m), ("fast", fast))}, reps)
            print(f"forward {batch}x{seq} {kind} {dtype}: " + ", ".join(
                f"{n} {v * 1e3:.2f} ms ({v / t['transformers']:.2f}x)" for n, v in t.items()), flush=True)
    labels = torch.randint(0, config.vocab_size, (batch, seq), device="cuda")
    steps = {}
    for name, model in (("transformers", hf.float().train()), ("bert_torch", ours.float().train())):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        head = torch.nn.Linear(config.hidden_size, config.vocab_size).cuda()

        def step(model=model, opt=opt, head=head):
            out = model(**inputs).last_hidden_state
            loss = torch.nn.functional.cross_entropy(head(out).flatten(0, 1), labels.flatten())
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        steps[name] = step
    t = _timed_rounds(steps, reps)
    print(f"train step {batch}x{seq} float32: " + ", ".join(
        f"{n} {v * 1e3:.2f} ms ({v / t['transformers']:.2f}x)" for n, v in t.items()), flush=True)


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print("gpu_check.py: torch sees no CUDA device; nothing to check.", file=sys.stderr)
        sys.exit(3)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)
    parity()
    if "--no-speed" not in sys.argv:
        speed()
    print(f"{len(FAILURES)} failure(s){': ' + ', '.join(FAILURES) if FAILURES else ''}")
    sys.exit(len(FAILURES))
