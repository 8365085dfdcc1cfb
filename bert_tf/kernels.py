"""Which units carry out the matmuls of a 16-bit Keras policy (``mixed_bfloat16`` / ``mixed_float16``), chosen
by a measured dispatch (never by CPU vendor name); the twin of ``bert_torch.kernels``.

``LOW_PRECISION_MATMUL`` modes (``set_low_precision_matmul``):

* ``"native"``: Keras' default: the Dense and attention matmuls run in the policy's compute dtype.
* ``"float32"``: the same matmuls run on the float32 units: the inputs are the 16-bit values (rounded where Keras
  rounds them), the variables their float32 masters (``mixed_*`` policies keep variables in float32, and Flax's
  bfloat16 CPU path reads them the same way), the result is rounded back to the compute dtype. A bf16 x bf16
  product is exact in float32 and native bf16 GEMMs accumulate in float32 too, so the only numerical change is that
  the weights are not rounded: results are at least as close to float32.
* ``"auto"`` (default): ``"float32"`` where a float32 matmul of BERT's shape measured faster than the 16-bit one on
  the default device (CPUs with AVX512-BF16 but no AMX run bf16 GEMMs at about half their float32 rate), else
  ``"native"``; on TPUs always ``"native"`` (their matrix units take 16-bit operands). Measured once per
  (dtype, device kind) and process; ``dispatch_table()`` shows the timings.

The choice is read when a layer is built: set the mode before building the model.
"""

from __future__ import annotations

import time

import tensorflow as tf

LOW_PRECISION_MATMUL = ("auto", "native", "float32")
_LOW_PRECISION = ("bfloat16", "float16")
_STATE = {"mode": "auto"}
_DISPATCH: dict[tuple[str, str], bool] = {}
_TIMINGS: dict[tuple[str, str], dict[str, float]] = {}


def set_low_precision_matmul(mode: str) -> None:
    """Choose how 16-bit policies run their matmuls in models built from now on (see the module docstring)."""
    if mode not in LOW_PRECISION_MATMUL:
        raise ValueError(f"low-precision matmul mode must be one of {LOW_PRECISION_MATMUL}, got {mode!r}.")
    _STATE["mode"] = mode


def low_precision_matmul() -> str:
    """The current mode (``"auto"`` unless ``set_low_precision_matmul`` changed it)."""
    return _STATE["mode"]


def float32_units(compute_dtype: str | None) -> bool:
    """Whether matmuls whose compute dtype is ``compute_dtype`` should run on the float32 units here."""
    if compute_dtype not in _LOW_PRECISION or _STATE["mode"] == "native":
        return False
    if _STATE["mode"] == "float32":
        return True
    kind = next((k.lower() for k in ("TPU", "GPU") if tf.config.list_logical_devices(k)), "cpu")
    if kind == "tpu":  # the MXU multiplies 16-bit operands natively: nothing to measure, and no host timing applies
        return False
    key = (compute_dtype, kind)
    if key not in _DISPATCH:
        _TIMINGS[key] = _measure(compute_dtype)
        _DISPATCH[key] = _TIMINGS[key]["float32"] < _TIMINGS[key][compute_dtype]
    return _DISPATCH[key]


def _measure(dtype: str, tokens: int = 256, hidden: int = 768, intermediate: int = 3072,
             reps: int = 3) -> dict[str, float]:
    """Best-of-``reps`` seconds of a [tokens, hidden] x [hidden, intermediate] matmul in ``dtype`` and float32."""
    x = tf.random.stateless_normal((tokens, hidden), seed=(0, 1))
    w = tf.random.stateless_normal((hidden, intermediate), seed=(0, 2)) * 0.02
    cases = {"float32": (x, w), dtype: (tf.cast(x, dtype), tf.cast(w, dtype))}
    best = dict.fromkeys(cases, float("inf"))
    for a, b in cases.values():
        tf.matmul(a, b).numpy()  # warm-up: kernel selection, first allocation
    for _ in range(reps):
        for name, (a, b) in cases.items():
            start = time.perf_counter()
            tf.matmul(a, b).numpy()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def dispatch_table() -> dict[tuple[str, str], tuple[bool, dict[str, float]]]:
    """The cached choices: ``(dtype, device kind) -> (float32 units?, {dtype: seconds})``."""
    return {key: (choice, _TIMINGS.get(key, {})) for key, choice in _DISPATCH.items()}


def clear_dispatch_cache() -> None:
    """Forget the measured choices (the next 16-bit model measures again)."""
    _DISPATCH.clear()
    _TIMINGS.clear()
