"""Host-side checks and preparation of a wrapper call's inputs: integer ids, label ranges, the cache and its mask.

These run on numpy before the jitted forward (so compiled code carries no checks): float ids would be truncated
and out-of-range labels give NaN or a plausible wrong loss inside XLA, so they raise here as torch and TF raise.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

IGNORE_INDEX = -100


def check_integer_inputs(**arrays: Any) -> None:
    """Raise TypeError when an id input (``input_ids``, ``token_type_ids``, ...) is not an integer array."""
    for name, value in arrays.items():
        if value is None:
            continue
        dtype = np.dtype(getattr(value, "dtype", np.asarray(value).dtype))
        if not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
            raise TypeError(f"{name} must hold integer ids, got dtype {dtype.name} (floats would be truncated). "
                            f"Pass the tokenizer's ids, e.g. np.asarray({name}, np.int32).")


def check_labels_in_range(labels: Any, num_classes: int, name: str, what: str,
                          ignore_index: int | None = IGNORE_INDEX) -> None:
    """Raise ValueError unless every label is an integer in ``[0, num_classes)`` or ``ignore_index``.

    ``what`` names where ``num_classes`` comes from (``"config.num_labels=3"``), for the message.
    """
    arr = np.asarray(labels)
    if arr.size == 0:
        return
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype.name}.")
    bad = (arr < 0) | (arr >= num_classes)
    if ignore_index is not None:
        bad &= arr != ignore_index
    if bad.any():
        value = int(arr[bad].flat[0])
        ignored = f" or {ignore_index} (ignored)" if ignore_index is not None else ""
        tail = f"; use {ignore_index} to ignore a position" if ignore_index is not None else ""
        raise ValueError(f"{name} contains {value}, outside the valid range [0, {num_classes}){ignored} "
                         f"({what}). Check the labels against the model's classes{tail}.")


def is_traced(*xs: Any) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in xs)


def cache_leaves(cache: Any) -> tuple[Any, int]:
    """(the first ``cache_index`` leaf, the cache length) of a cache tree from ``init_cache``."""
    flat = {"/".join(str(getattr(k, "key", k)) for k in path): v
            for path, v in jax.tree_util.tree_leaves_with_path(cache)}
    index = next((v for k, v in flat.items() if k.endswith("cache_index")), None)
    key = next((v for k, v in flat.items() if k.endswith("cached_key")), None)
    if index is None or key is None:
        raise ValueError("past_key_values is not a cache from model.init_cache(batch_size, max_length).")
    return index, int(key.shape[-3])


def cache_mask(attention_mask: Any, shape: tuple[int, ...], max_len: int, past_len: int | None):
    """The mask over the whole cache: given as is, or padded from the tokens seen so far."""
    if attention_mask is None:
        return jnp.ones((shape[0], max_len), jnp.int32)
    length = attention_mask.shape[-1]
    if length == max_len:
        return attention_mask
    if past_len is None or length != past_len + shape[-1]:
        raise ValueError(f"attention_mask has {length} columns; with a cache give the mask of all tokens so "
                         f"far ({(past_len or 0) + shape[-1]}) or of the whole cache ({max_len}).")
    return jnp.pad(jnp.asarray(attention_mask), ((0, 0), (0, max_len - length)))
