"""Linear kernels for the inference fast path, chosen by a measured dispatch (never by CPU vendor name).

Backends (``KERNEL_BACKENDS``):

* ``"aten"``: ``torch.nn.functional.linear`` (MKL / oneDNN as PyTorch picks, per call); works on every device.
* ``"mkldnn"``: oneDNN with the weight reordered ONCE into its blocked layout
  (``torch.ops.mkldnn._reorder_linear_weight``) and GELU / ReLU fused into the GEMM epilogue
  (``torch.ops.mkldnn._linear_pointwise``); CPU only, float32 and bfloat16.
* ``"aten-f32"``, ``"mkldnn-f32"`` (bfloat16 / float16 models only): the same kernels run in float32 on the
  low-precision values, the result rounded back. A bf16 x bf16 product is exact in float32 and a native bf16 GEMM
  accumulates in float32 too, so this is the same arithmetic carried out by the float32 units: it wins on CPUs
  whose bf16 instructions are slower than their float32 FMAs (AVX512-BF16 without AMX, measured: about half the
  float32 rate). The weights are kept as float32 copies of their bf16 values.

``choose_backend`` times every available backend on the model's own GEMM shapes (interleaved repeats, best of
each), checks that its result equals ``F.linear`` (so a broken kernel is never chosen), and caches the winner per
(device, dtype, shapes, thread count) for the process: ``dispatch_table()`` shows the cache and the timings.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

KERNEL_BACKENDS = ("auto", "aten", "mkldnn", "aten-f32", "mkldnn-f32")
_LOW_PRECISION = (torch.bfloat16, torch.float16)
# Activations oneDNN fuses into the GEMM: our name -> (_linear_pointwise attr, algorithm).
_FUSED = {"gelu": ("gelu", ["none"]), "gelu_pytorch_tanh": ("gelu", ["tanh"]), "relu": ("relu", [])}
_DISPATCH: dict[tuple, str] = {}
_TIMINGS: dict[tuple, dict[str, float]] = {}


def mkldnn_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the prepacked oneDNN linear can run here (CPU build with oneDNN, float32 or bfloat16)."""
    if device.type != "cpu" or dtype not in (torch.float32, torch.bfloat16):
        return False
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")):
        return False
    return dtype != torch.bfloat16 or torch.ops.mkldnn._is_mkldnn_bf16_supported()


class PackedLinear:
    """``act(x @ weight.T + bias)`` for 2-D ``x`` ``[tokens, in]``, its weight prepared once for ``backend``.

    ``act`` is a name of ``bert_torch.layers.ACT2FN`` or None; fused into the GEMM where the backend can,
    applied after it otherwise. ``residual`` (same shape as the output) is added after the activation. A
    ``-f32`` backend computes in float32 and returns ``x``'s dtype (see the module docstring).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, backend: str, act: str | None = None):
        if backend not in KERNEL_BACKENDS[1:]:
            raise ValueError(f"backend must be one of {KERNEL_BACKENDS[1:]}, got {backend!r}.")
        self.backend, self.act = backend, act
        self.out_features, self.in_features = weight.shape
        kernel, upcast = backend.removesuffix("-f32"), backend.endswith("-f32")
        self.compute_dtype = torch.float32 if upcast else weight.dtype
        weight = weight.detach().to(self.compute_dtype)
        self.bias = None if bias is None else bias.detach().to(self.compute_dtype)
        self._mkldnn = kernel == "mkldnn"
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, None) if self._mkldnn else weight
        self._fused = _FUSED.get(act) if self._mkldnn else None
        if act is not None and self._fused is None:
            from bert_torch.layers import ACT2FN
            self._act_fn = ACT2FN[act]

    def __repr__(self) -> str:
        return (f"PackedLinear({self.in_features} -> {self.out_features}, backend={self.backend!r}, "
                f"act={self.act!r}{', fused' if self._fused else ''})")

    def __call__(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        assert x.dim() == 2 and x.shape[1] == self.in_features, (tuple(x.shape), self.in_features)
        out_dtype = x.dtype
        if out_dtype != self.compute_dtype:
            x = x.to(self.compute_dtype)
            residual = None if residual is None else residual.to(self.compute_dtype)
        if self._mkldnn:
            if residual is not None and self.act is None:  # bias + residual add in the GEMM epilogue
                y = torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.weight, self.bias, "add")
                return y.to(out_dtype)
            attr, algo = self._fused or ("none", [])
            y = torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, attr, [], algo[0] if algo else "")
        else:
            y = F.linear(x, self.weight, self.bias)
        if self.act is not None and self._fused is None:
            y = self._act_fn(y)
        return (y if residual is None else y + residual).to(out_dtype)


def _best_time(fns: dict[str, callable], x: torch.Tensor, reps: int) -> dict[str, float]:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)  # CUDA launches return before the kernel ends
    best = {name: float("inf") for name in fns}
    for fn in fns.values():
        fn(x)  # warm-up: first-call allocation and oneDNN primitive creation
    for _ in range(reps):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn(x)
            sync()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def choose_backend(hidden: int, intermediate: int, dtype: torch.dtype, device: torch.device,
                   tokens: int = 256, reps: int = 3) -> str:
    """The fastest correct backend for this model's GEMMs here, measured on first use and cached."""
    key = (device.type, dtype, hidden, intermediate, torch.get_num_threads())
    if key in _DISPATCH:
        return _DISPATCH[key]
    candidates = ["aten"] + (["mkldnn"] if mkldnn_available(device, dtype) else [])
    if dtype in _LOW_PRECISION:  # the same arithmetic on the float32 units (see the module docstring)
        candidates += ["aten-f32"] + (["mkldnn-f32"] if mkldnn_available(device, torch.float32) else [])
    if len(candidates) == 1:
        _DISPATCH[key] = "aten"
        return "aten"
    gen = torch.Generator().manual_seed(0)
    up = (torch.randn(intermediate, hidden, generator=gen) * 0.02).to(device, dtype)
    down = (torch.randn(hidden, intermediate, generator=gen) * 0.02).to(device, dtype)
    bias_up, bias_down = torch.zeros(intermediate, device=device, dtype=dtype), torch.zeros(hidden, device=device,
                                                                                             dtype=dtype)
    x = torch.randn(tokens, hidden, generator=gen).to(device, dtype)
    totals = dict.fromkeys(candidates, 0.0)
    ok = dict.fromkeys(candidates, True)
    tol = 1e-4 if dtype == torch.float32 else 5e-2
    with torch.inference_mode():
        for w, b, inp in ((up, bias_up, x), (down, bias_down, torch.randn(tokens, intermediate, generator=gen)
                                             .to(device, dtype))):
            ref = F.linear(inp, w, b).float()
            layers = {name: PackedLinear(w, b, name) for name in candidates}
            for name, layer in layers.items():
                ok[name] &= bool((layer(inp).float() - ref).abs().max() <= tol * (ref.abs().max() + 1))
            for name, t in _best_time(layers, inp, reps).items():
                totals[name] += t
    usable = {name: t for name, t in totals.items() if ok[name]}
    _TIMINGS[key] = totals
    _DISPATCH[key] = min(usable, key=usable.get)
    return _DISPATCH[key]


def dispatch_table() -> dict[tuple, tuple[str, dict[str, float]]]:
    """The cached choices: ``(device, dtype, hidden, intermediate, threads) -> (backend, {backend: seconds})``."""
    return {key: (choice, _TIMINGS.get(key, {})) for key, choice in _DISPATCH.items()}


def clear_dispatch_cache() -> None:
    """Forget the measured choices (the next ``choose_backend`` measures again)."""
    _DISPATCH.clear()
    _TIMINGS.clear()
