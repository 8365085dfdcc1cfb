"""The interchange schema: HF PyTorch state_dict names mapped to numpy arrays.

Every format reads into this schema and writes from it; every framework maps its parameters to and from it. This
module holds the rules that apply to the schema itself, whatever the source: legacy names, tied weights, the
``bert.`` prefix of head models, and matching a state dict against what a model expects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from conversion.errors import WeightMismatchError

StateDict = dict[str, np.ndarray]


class TensorSpec(NamedTuple):
    """A tensor's shape and dtype, read from a checkpoint's headers without its data (``read_shapes``)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def transposed(self) -> "TensorSpec":
        return TensorSpec(self.shape[::-1], self.dtype)

BASE_PREFIX = "bert."
# Buffers and duplicates some writers store that carry no information of their own.
_DROPPED = ("embeddings.position_ids",)
TIED_DECODER_WEIGHT = "cls.predictions.decoder.weight"
TIED_DECODER_BIAS = "cls.predictions.decoder.bias"


def is_dropped_buffer(name: str) -> bool:
    """True for buffers some writers store that the schema leaves out (``embeddings.position_ids``)."""
    return any(name == d or name.endswith("." + d) for d in _DROPPED)


def normalize(state_dict: Mapping[str, np.ndarray]) -> StateDict:
    """Canonical names: LayerNorm gamma/beta to weight/bias, no position_ids buffer, no duplicate decoder bias.

    transformers stores ``cls.predictions.decoder.bias`` as an alias of ``cls.predictions.bias``; the schema
    keeps only the latter (as transformers' save_pretrained does).
    """
    out: StateDict = {}
    for name, value in state_dict.items():
        if name.endswith(".gamma"):
            name = name[: -len("gamma")] + "weight"
        elif name.endswith(".beta"):
            name = name[: -len("beta")] + "bias"
        if is_dropped_buffer(name):
            continue
        out[name] = value
    if TIED_DECODER_BIAS in out:
        bias = out.pop(TIED_DECODER_BIAS)
        out.setdefault("cls.predictions.bias", bias)
    return out


def match_prefix(state_dict: Mapping[str, np.ndarray], expected: set[str] | Mapping[str, object]) -> StateDict:
    """Add or strip the ``bert.`` prefix so a base-model checkpoint loads into a head model and back."""
    expected_keys = set(expected)
    wants_prefix = any(k.startswith(BASE_PREFIX) for k in expected_keys)
    has_prefix = any(k.startswith(BASE_PREFIX) for k in state_dict)
    if wants_prefix and not has_prefix:
        return {(k if k.startswith("cls.") or k in expected_keys else BASE_PREFIX + k): v
                for k, v in state_dict.items()}
    if has_prefix and not wants_prefix:
        return {(k[len(BASE_PREFIX):] if k.startswith(BASE_PREFIX) else k): v for k, v in state_dict.items()}
    return dict(state_dict)


@dataclasses.dataclass
class LoadReport:
    """What matching a checkpoint against a model found. ``raise_if_mismatched`` turns it into an error."""

    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, tuple, tuple]]  # (name, checkpoint shape, model shape)

    def raise_if_mismatched(self, source: str = "checkpoint") -> None:
        if self.mismatched:
            rows = "\n".join(f"  {n}: {tuple(a)} in the {source}, {tuple(b)} in the model"
                             for n, a, b in self.mismatched)
            raise WeightMismatchError(
                f"Shapes differ between the {source} and the model:\n{rows}\nCheck the config, or pass "
                "ignore_mismatched_sizes=True to leave these weights newly initialised.")

    def summary(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"newly initialised (missing from the checkpoint): {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(f"unused (not in the model): {', '.join(self.unexpected)}")
        if self.mismatched:
            parts.append("re-initialised for a shape mismatch: " + ", ".join(n for n, _, _ in self.mismatched))
        return "; ".join(parts)


def match(state_dict: Mapping[str, np.ndarray], expected_shapes: Mapping[str, tuple],
          *, ignore_mismatched_sizes: bool = False, optional: set[str] | frozenset = frozenset(),
          source: str = "checkpoint") -> tuple[StateDict, LoadReport]:
    """Normalise ``state_dict`` and keep the tensors the model expects, with the same shapes.

    Returns the usable tensors and a report. A shape mismatch raises unless ``ignore_mismatched_sizes``.
    ``optional`` names expected tensors whose absence is not reported (tied weights).
    """
    sd = match_prefix(normalize(state_dict), expected_shapes)
    usable: StateDict = {}
    mismatched = []
    for name, value in sd.items():
        if name in expected_shapes:
            want = tuple(expected_shapes[name])
            if tuple(value.shape) != want:
                mismatched.append((name, tuple(value.shape), want))
            else:
                usable[name] = value
    report = LoadReport(
        missing=sorted(k for k in expected_shapes if k not in sd and k not in optional),
        unexpected=sorted(k for k in sd if k not in expected_shapes),
        mismatched=mismatched)
    if not ignore_mismatched_sizes:
        report.raise_if_mismatched(source)
    return usable, report
