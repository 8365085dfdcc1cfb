"""What a tokenizer call accepts: texts, word lists (``is_split_into_words=True``), batches of them, and (the
pure-Python tokenizer's ``encode_plus``) lists of tokens or ids; a clear error for anything else."""

from __future__ import annotations

from typing import Any, Union

__all__ = ["TextInput", "check_input", "is_batch"]

TextInput = Union[str, list[str]]  # a text, or a list of words (is_split_into_words=True)


def is_batch(value: Any, is_split_into_words: bool) -> bool:
    """Whether ``value`` is a batch: a list of texts, or (split into words) a list of word lists."""
    if not isinstance(value, (list, tuple)):
        return False
    return not is_split_into_words or (bool(value) and isinstance(value[0], (list, tuple)))


def check_input(name: str, value: Any, is_split_into_words: bool, batch_ok: bool, ids_ok: bool = False) -> None:
    """Raise a clear ValueError unless ``value`` is a text (str), a word list when split, a batch of those (when
    ``batch_ok``), or a list of tokens / ids (when ``ids_ok``, the pure-Python tokenizer's encode_plus)."""
    def single(v: Any) -> bool:
        if isinstance(v, str):
            return not is_split_into_words
        if not isinstance(v, (list, tuple)):
            return False
        if all(isinstance(t, str) for t in v):
            return is_split_into_words or ids_ok
        return ids_ok and not is_split_into_words and all(isinstance(t, int) for t in v)
    ok = single(value) or (batch_ok and isinstance(value, (list, tuple)) and is_batch(value, is_split_into_words)
                           and all(single(v) for v in value))
    if not ok:
        want = "a list of words (str) or a batch of such lists" if is_split_into_words else "a str or a list of str"
        if ids_ok:
            want += ", a list of tokens or a list of token ids"
        raise ValueError(f"{name} must be {want}, got {value!r:.80}.")
