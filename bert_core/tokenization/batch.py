"""``BatchEncoding``: what a tokenizer call returns, a dict with attribute access and optional tensors.

Tensors are built only when asked (``return_tensors`` in ``"np"``, ``"pt"``, ``"tf"``, ``"jax"``), and the framework
is imported at that moment, never when ``bert_core`` is imported.
"""

from __future__ import annotations

import importlib
from collections import UserDict
from typing import Any

import numpy as np

from bert_core.tokenization.alignment import AlignmentMixin, LazyRows

TENSOR_TYPES = ("np", "pt", "tf", "jax")


def _to_numpy(key: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as exc:  # ragged lists
        raise ValueError(
            f"Unable to build a tensor from '{key}': its sequences have different lengths. Pass padding=True "
            "(and truncation=True for inputs longer than the model allows) to get equal lengths."
        ) from exc
    if array.dtype == object:
        raise ValueError(f"Unable to build a tensor from '{key}': its sequences have different lengths. "
                         "Pass padding=True (and truncation=True) to get equal lengths.")
    if array.dtype.kind in "iub":
        array = array.astype(np.int64)
    return array


# return_tensors= is the one place bert_core touches a framework: only when the caller names it, at call time, so
# importing bert_core (or tokenizing to lists / numpy) never imports one.
_TENSOR_MODULES = {"pt": "torch", "tf": "tensorflow", "jax": "jax.numpy", "np": "numpy"}
_TENSOR_MAKERS: dict[str, Any] = {
    "pt": lambda torch: torch.from_numpy,
    # transformers' TF tokenizers give int32 ids
    "tf": lambda tf: lambda a: tf.constant(a.astype(np.int32) if a.dtype == np.int64 else a),
    "jax": lambda jnp: jnp.asarray,
    "np": lambda _: lambda a: a,
}


def convert_to_tensors(data: dict[str, Any], tensor_type: str | None, prepend_batch_axis: bool = False) -> dict:
    """Convert every value of ``data`` to ``tensor_type`` (None leaves Python lists), importing the framework lazily."""
    if tensor_type is None:
        return data
    tensor_type = getattr(tensor_type, "value", tensor_type)
    if tensor_type not in TENSOR_TYPES:
        raise ValueError(f"return_tensors must be one of {TENSOR_TYPES} or None, got {tensor_type!r}.")
    make = _TENSOR_MAKERS[tensor_type](importlib.import_module(_TENSOR_MODULES[tensor_type]))
    out = {}
    for key, value in data.items():
        if prepend_batch_axis:
            value = [value]
        out[key] = make(np.ascontiguousarray(_to_numpy(key, value)))
    return out


class BatchEncoding(AlignmentMixin, UserDict):
    """The output of a tokenizer call: ``input_ids``, ``token_type_ids``, ``attention_mask``, ... by key or attribute.

    ``enc["input_ids"]`` and ``enc.input_ids`` are the same. Rows align tokens with words and characters
    (``tokens()``, ``word_ids()``, ``sequence_ids()``, ``char_to_token()``, ``word_to_tokens()``, ...; see
    ``alignment.AlignmentMixin``): a fast tokenizer keeps its ``tokenizers.Encoding`` objects in ``encodings``, the
    pure-Python one computes equivalent alignments when first asked.
    """

    def __init__(self, data: dict[str, Any] | None = None, encodings: list | None = None,
                 tensor_type: str | None = None, prepend_batch_axis: bool = False, alignments: Any = None):
        super().__init__(convert_to_tensors(dict(data or {}), tensor_type, prepend_batch_axis))
        self._encodings = encodings
        self._alignments = alignments

    def __getattr__(self, name: str) -> Any:
        if name in ("data", "_encodings", "_alignments") or name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field '{name}'; it has {sorted(self.data)}.") from None

    def __getstate__(self) -> dict:
        alignments = self._alignments.rows() if isinstance(self._alignments, LazyRows) else self._alignments
        return {"data": self.data, "encodings": self._encodings, "alignments": alignments}

    def __setstate__(self, state: dict) -> None:
        self.data = state["data"]
        self._encodings = state["encodings"]
        self._alignments = state.get("alignments")

    @property
    def encodings(self) -> list | None:
        """The ``tokenizers.Encoding`` of each row (fast tokenizer only), else None."""
        return self._encodings

    @property
    def is_fast(self) -> bool:
        return self._encodings is not None

    def _row(self, batch_index: int):
        rows = self._encodings if self._encodings is not None else self._alignments
        if rows is None:
            raise ValueError("This BatchEncoding holds no token alignment (it was built from ids, by pad() or "
                             "prepare_for_model); call the tokenizer on the text to get tokens(), word_ids(), ...")
        if batch_index < 0:
            batch_index += len(rows)
        return rows[batch_index]

    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> BatchEncoding:
        """Convert the fields in place to ``tensor_type`` ("np", "pt", "tf" or "jax") and return self."""
        self.data = convert_to_tensors(self.data, tensor_type, prepend_batch_axis)
        return self

    def to(self, device: Any) -> BatchEncoding:
        """Move PyTorch tensors to ``device`` (other values are left as they are); returns self."""
        self.data = {k: v.to(device) if hasattr(v, "to") and callable(v.to) else v for k, v in self.data.items()}
        return self

    def __repr__(self) -> str:
        def describe(value: Any) -> str:
            shape = getattr(value, "shape", None)
            if shape is not None:
                return f"{type(value).__name__}{tuple(shape)}"
            text = repr(value)
            return text if len(text) <= 60 else text[:57] + "..."
        fields = ", ".join(f"{k}={describe(v)}" for k, v in self.data.items())
        return f"BatchEncoding({fields})"
