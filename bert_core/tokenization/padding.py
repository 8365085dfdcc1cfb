"""Padding and truncation with transformers' semantics, shared by both BERT tokenizers.

``resolve_strategies`` turns the user's ``padding`` / ``truncation`` / ``max_length`` into validated strategies
(both tokenizers); ``pad_encoding`` and ``truncate_sequences`` do the work on id lists (the pure-Python tokenizer
and ``pad()``; the fast tokenizer hands the resolved strategies to the ``tokenizers`` backend).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
SIDES = ("right", "left")
VERY_LARGE_INTEGER = int(1e30)  # transformers' "no model_max_length"
LARGE_INTEGER = int(1e20)


def resolve_strategies(padding: bool | str = False, truncation: bool | str | None = None,
                       max_length: int | None = None, pad_to_multiple_of: int | None = None,
                       model_max_length: int = VERY_LARGE_INTEGER,
                       has_pad_token: bool = True) -> tuple[str, str, int | None]:
    """Return ``(padding_strategy, truncation_strategy, max_length)`` as transformers resolves them.

    ``padding``: False / "do_not_pad", True / "longest", "max_length". ``truncation``: False / None /
    "do_not_truncate", True / "longest_first", "only_first", "only_second". A ``max_length`` with neither given
    means longest_first truncation. A missing ``max_length`` falls back to ``model_max_length``.
    """
    padding = getattr(padding, "value", padding)
    truncation = getattr(truncation, "value", truncation)
    if max_length is not None and padding is False and truncation is None:
        truncation = "longest_first"
    if padding is True:
        padding_strategy = "longest"
    elif padding is False or padding is None:
        padding_strategy = "do_not_pad"
    elif padding in PADDING_STRATEGIES:
        padding_strategy = padding
    else:
        raise ValueError(f"padding must be True, False or one of {PADDING_STRATEGIES}, got {padding!r}.")
    if truncation is True:
        truncation_strategy = "longest_first"
    elif truncation is False or truncation is None:
        truncation_strategy = "do_not_truncate"
    elif truncation in TRUNCATION_STRATEGIES:
        truncation_strategy = truncation
    else:
        raise ValueError(f"truncation must be True, False or one of {TRUNCATION_STRATEGIES}, got {truncation!r}.")
    if max_length is not None:
        if isinstance(max_length, bool) or not hasattr(max_length, "__index__") or max_length < 0:
            raise ValueError(f"max_length must be a non-negative int or None, got {max_length!r}.")
        max_length = int(max_length)
    if max_length is None:
        if padding_strategy == "max_length":
            if model_max_length > LARGE_INTEGER:
                logger.warning("Asking to pad to max_length but no max_length is given and the tokenizer has no "
                               "model_max_length: not padding.")
                padding_strategy = "do_not_pad"
            else:
                max_length = model_max_length
        if truncation_strategy != "do_not_truncate":
            if model_max_length > LARGE_INTEGER:
                logger.warning("Asking to truncate but no max_length is given and the tokenizer has no "
                               "model_max_length: not truncating.")
                truncation_strategy = "do_not_truncate"
            else:
                max_length = model_max_length
    if padding_strategy != "do_not_pad" and not has_pad_token:
        raise ValueError("Asking to pad but the tokenizer has no pad_token; set tokenizer.pad_token first.")
    if (truncation_strategy != "do_not_truncate" and padding_strategy != "do_not_pad" and pad_to_multiple_of
            and max_length is not None and max_length % pad_to_multiple_of):
        raise ValueError(f"Truncation and padding are both on but max_length ({max_length}) is not a multiple of "
                         f"pad_to_multiple_of ({pad_to_multiple_of}).")
    return padding_strategy, truncation_strategy, max_length


def check_side(name: str, side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"{name} must be 'right' or 'left', got {side!r}.")
    return side


def pad_encoding(encoded: dict[str, Any], max_length: int | None, padding_strategy: str, pad_token_id: int,
                 pad_token_type_id: int = 0, pad_to_multiple_of: int | None = None, padding_side: str = "right",
                 return_attention_mask: bool = True) -> dict[str, Any]:
    """Pad one encoding (lists of ints keyed by field) in place, as transformers' ``_pad``; returns it."""
    ids = encoded["input_ids"]
    if padding_strategy == "longest":
        max_length = len(ids)
    if max_length is not None and pad_to_multiple_of and max_length % pad_to_multiple_of:
        max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
    if return_attention_mask and "attention_mask" not in encoded:
        encoded["attention_mask"] = [1] * len(ids)
    if padding_strategy == "do_not_pad" or max_length is None or len(ids) >= max_length:
        return encoded
    n = max_length - len(ids)
    fill = {"input_ids": pad_token_id, "attention_mask": 0, "token_type_ids": pad_token_type_id,
            "special_tokens_mask": 1}
    for key, value in fill.items():
        if key in encoded and (key != "attention_mask" or return_attention_mask):
            encoded[key] = encoded[key] + [value] * n if padding_side == "right" else [value] * n + encoded[key]
    return encoded


def truncate_sequences(ids: list[int], pair_ids: list[int] | None, num_tokens_to_remove: int,
                       strategy: str = "longest_first", stride: int = 0,
                       side: str = "right", log: bool = True) -> tuple[list[int], list[int] | None, list[int]]:
    """Remove ``num_tokens_to_remove`` ids as transformers' pure-Python tokenizers do.

    Returns ``(ids, pair_ids, overflowing_tokens)``. longest_first on a pair splits the removal between both
    sequences, longer one first (no overflowing tokens). When the chosen sequence is too short, transformers logs
    an error (unless ``log=False``) and leaves the input as it is; so does this function.
    """
    if num_tokens_to_remove <= 0:
        return ids, pair_ids, []
    overflowing: list[int] = []
    if strategy == "only_first" or (strategy == "longest_first" and pair_ids is None):
        if len(ids) > num_tokens_to_remove:
            window = min(len(ids), stride + num_tokens_to_remove)
            if side == "left":
                overflowing, ids = ids[:window], ids[num_tokens_to_remove:]
            else:
                overflowing, ids = ids[-window:], ids[:-num_tokens_to_remove]
        elif log:
            logger.error("Cannot remove %d tokens: the first sequence has only %d. Choose another truncation "
                         "strategy ('longest_first' or 'only_second') or a larger max_length.",
                         num_tokens_to_remove, len(ids))
    elif strategy == "longest_first":
        n_pair = len(pair_ids)
        first_remove = min(abs(n_pair - len(ids)), num_tokens_to_remove)
        second_remove = num_tokens_to_remove - first_remove
        if len(ids) > n_pair:
            ids_to_move, pair_to_move = first_remove + second_remove // 2, second_remove - second_remove // 2
        else:
            ids_to_move, pair_to_move = second_remove // 2, first_remove + second_remove - second_remove // 2
        if side == "right":
            ids = ids[:-ids_to_move] if ids_to_move > 0 else ids
            pair_ids = pair_ids[:-pair_to_move] if pair_to_move > 0 else pair_ids
        else:
            ids, pair_ids = ids[ids_to_move:], pair_ids[pair_to_move:]
    elif strategy == "only_second" and pair_ids is not None:
        if len(pair_ids) > num_tokens_to_remove:
            window = min(len(pair_ids), stride + num_tokens_to_remove)
            if side == "left":
                overflowing, pair_ids = pair_ids[:window], pair_ids[num_tokens_to_remove:]
            else:
                overflowing, pair_ids = pair_ids[-window:], pair_ids[:-num_tokens_to_remove]
        elif log:
            logger.error("Cannot remove %d tokens: the second sequence has only %d. Choose another truncation "
                         "strategy ('longest_first' or 'only_first') or a larger max_length.",
                         num_tokens_to_remove, len(pair_ids))
    return ids, pair_ids, overflowing
