"""Token / word / character alignment of an encoded row, with transformers v4's ``BatchEncoding`` methods.

The fast tokenizer's rows are ``tokenizers.Encoding`` objects; the pure-Python tokenizer builds ``Alignment``
objects with the same methods (from its offset-tracking path, only when asked), so ``BatchEncoding`` answers
``word_ids()``, ``char_to_token()``, ... the same way for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["Alignment", "AlignmentMixin", "CharSpan", "LazyRows", "TokenSpan"]


class TokenSpan(NamedTuple):
    """Tokens ``start`` (included) to ``end`` (excluded) of an encoded row."""

    start: int
    end: int


class CharSpan(NamedTuple):
    """Characters ``start`` (included) to ``end`` (excluded) of the original text."""

    start: int
    end: int


class Alignment:
    """One encoded row's tokens with their word index, sequence index and character offsets (None / (0, 0) for
    special and padding tokens); the methods of ``tokenizers.Encoding`` that ``BatchEncoding`` uses."""

    __slots__ = ("ids", "tokens", "word_ids", "sequence_ids", "offsets")

    def __init__(self, ids: list[int], tokens: list[str], word_ids: list[int | None],
                 sequence_ids: list[int | None], offsets: list[tuple[int, int]]) -> None:
        assert len(ids) == len(tokens) == len(word_ids) == len(sequence_ids) == len(offsets)
        self.ids, self.tokens, self.word_ids = ids, tokens, word_ids
        self.sequence_ids, self.offsets = sequence_ids, offsets

    def token_to_sequence(self, token: int) -> int | None:
        return self.sequence_ids[token]

    def token_to_word(self, token: int) -> int | None:
        return self.word_ids[token]

    def token_to_chars(self, token: int) -> tuple[int, int] | None:
        return None if self.sequence_ids[token] is None else self.offsets[token]

    def word_to_tokens(self, word: int, sequence_index: int = 0) -> tuple[int, int] | None:
        hits = [i for i, (w, s) in enumerate(zip(self.word_ids, self.sequence_ids)) if w == word
                and s == sequence_index]
        return (hits[0], hits[-1] + 1) if hits else None

    def word_to_chars(self, word: int, sequence_index: int = 0) -> tuple[int, int] | None:
        span = self.word_to_tokens(word, sequence_index)
        return None if span is None else (self.offsets[span[0]][0], self.offsets[span[1] - 1][1])

    def char_to_token(self, char: int, sequence_index: int = 0) -> int | None:
        for i, ((start, end), s) in enumerate(zip(self.offsets, self.sequence_ids)):
            if s == sequence_index and start <= char < end:
                return i
        return None

    def char_to_word(self, char: int, sequence_index: int = 0) -> int | None:
        token = self.char_to_token(char, sequence_index)
        return None if token is None else self.word_ids[token]

    @property
    def n_sequences(self) -> int:
        return 1 + max((s for s in self.sequence_ids if s is not None), default=0)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Alignment(num_tokens={len(self.ids)})"


class LazyRows:
    """A list computed on first use (the pure-Python tokenizer's alignments cost a slower pass over the text)."""

    def __init__(self, compute: Callable[[], list]) -> None:
        self._compute, self._rows = compute, None

    def rows(self) -> list:
        if self._rows is None:
            self._rows = self._compute()
        return self._rows

    def __getitem__(self, index: int) -> Any:
        return self.rows()[index]

    def __len__(self) -> int:
        return len(self.rows())


class AlignmentMixin:
    """transformers v4's alignment methods of ``BatchEncoding``. Each takes ``(batch_index, index)`` or, for row 0,
    just ``(index)``; negative indices count from the end."""

    def _row(self, batch_index: int):
        raise NotImplementedError

    def _indices(self, batch_or_index: int, index: int | None) -> tuple[Any, int]:
        batch, index = (0, batch_or_index) if index is None else (batch_or_index, index)
        row = self._row(batch)
        return row, index + len(row) if index < 0 else index

    @property
    def n_sequences(self) -> int | None:
        """1 for single texts, 2 for pairs (None when the encoding holds no alignment)."""
        try:
            return self._row(0).n_sequences
        except (ValueError, IndexError):
            return None

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The token strings of row ``batch_index``."""
        return list(self._row(batch_index).tokens)

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """The word index of each token of row ``batch_index``; None for special and padding tokens."""
        return list(self._row(batch_index).word_ids)

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """0 / 1 for tokens of the first / second sequence; None for special and padding tokens."""
        return list(self._row(batch_index).sequence_ids)

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        row, token = self._indices(batch_or_token_index, token_index)
        return row.token_to_sequence(token)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        row, token = self._indices(batch_or_token_index, token_index)
        return row.token_to_word(token)

    def word_to_tokens(self, batch_or_word_index: int, word_index: int | None = None,
                       sequence_index: int = 0) -> TokenSpan | None:
        row, word = self._indices(batch_or_word_index, word_index)
        span = row.word_to_tokens(word, sequence_index)
        return None if span is None else TokenSpan(*span)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> CharSpan | None:
        row, token = self._indices(batch_or_token_index, token_index)
        span = row.token_to_chars(token)
        return None if span is None else CharSpan(*span)

    def char_to_token(self, batch_or_char_index: int, char_index: int | None = None,
                      sequence_index: int = 0) -> int | None:
        row, char = self._indices(batch_or_char_index, char_index)
        return row.char_to_token(char, sequence_index)

    def word_to_chars(self, batch_or_word_index: int, word_index: int | None = None,
                      sequence_index: int = 0) -> CharSpan | None:
        row, word = self._indices(batch_or_word_index, word_index)
        span = row.word_to_chars(word, sequence_index)
        return None if span is None else CharSpan(*span)

    def char_to_word(self, batch_or_char_index: int, char_index: int | None = None,
                     sequence_index: int = 0) -> int | None:
        row, char = self._indices(batch_or_char_index, char_index)
        return row.char_to_word(char, sequence_index)
