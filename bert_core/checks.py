"""Input checks shared by the three frameworks: clear errors before any kernel runs.

Embedding lookups fail badly on out-of-range ids (PyTorch raises a device-side assert on GPU, JAX clamps, Flax
and TF on GPU silently return NaN or zero rows). Each framework calls these with host-side min/max values.
"""

from __future__ import annotations

from typing import Any


def check_ids_in_range(ids: Any, limit: int, name: str, config_field: str) -> None:
    """Raise ValueError unless every value of ``ids`` (numpy/torch/jax array) lies in ``[0, limit)``."""
    if ids is None or getattr(ids, "size", 1) == 0 or (hasattr(ids, "numel") and ids.numel() == 0):
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= limit:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"{name} contains {bad}, outside [0, {limit}) ({config_field}={limit}). Check that the tokenizer "
            f"matches the model, or resize the embeddings.")


def check_seq_len(seq_len: int, past_len: int, max_positions: int, uses_absolute_positions: bool = True) -> None:
    """Raise ValueError when ``past_len + seq_len`` exceeds ``max_position_embeddings``."""
    total = seq_len + past_len
    if total > max_positions:
        extra = f" ({past_len} cached + {seq_len} new)" if past_len else ""
        raise ValueError(
            f"Sequence length {total}{extra} exceeds max_position_embeddings={max_positions}. Truncate the input "
            f"(tokenizer(..., truncation=True, max_length={max_positions})).")


def check_model_inputs(config: Any, input_ids: Any = None, token_type_ids: Any = None, position_ids: Any = None,
                       seq_len: int | None = None, past_len: int = 0) -> None:
    """All checks on one forward call's integer inputs (any may be None)."""
    check_ids_in_range(input_ids, config.vocab_size, "input_ids", "vocab_size")
    check_ids_in_range(token_type_ids, config.type_vocab_size, "token_type_ids", "type_vocab_size")
    check_ids_in_range(position_ids, config.max_position_embeddings, "position_ids", "max_position_embeddings")
    if seq_len is None and input_ids is not None:
        seq_len = int(input_ids.shape[-1])
    if seq_len is not None:
        check_seq_len(seq_len, past_len, config.max_position_embeddings)


def check_same_shape(reference_name: str, reference_shape: tuple, **others: Any) -> None:
    """Raise ValueError when an optional input's shape does not fit the reference input's.

    A dimension of 1 broadcasts, as in transformers (``position_ids`` of shape ``[1, seq]`` serve every row).
    """
    reference_shape = tuple(reference_shape)
    for name, value in others.items():
        if value is None:
            continue
        shape = tuple(value.shape)
        if len(shape) != len(reference_shape) or any(d not in (r, 1) for d, r in zip(shape, reference_shape)):
            raise ValueError(f"{name} has shape {shape} but {reference_name} has shape {reference_shape}; they must "
                             "match (a dimension of 1 broadcasts).")
