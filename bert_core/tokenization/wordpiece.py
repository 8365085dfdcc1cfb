"""The text rules of BERT's pure-Python tokenizer: cleaning, CJK spacing, accents, punctuation, WordPiece.

Each function reproduces transformers v4's ``BasicTokenizer`` / ``WordpieceTokenizer`` exactly, but works on whole
strings with C-level operations (``str.translate`` with a lazily filled table, precompiled regexes, an ASCII fast
path) instead of one Python call per character.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_ASCII_PUNCT = r"!-/:-@\[-`{-~"  # every ASCII symbol / punctuation character: BERT splits on all of them
_ASCII_PUNCT_SPLIT = re.compile(f"[{_ASCII_PUNCT}]|[^{_ASCII_PUNCT}]+")


def is_whitespace(char: str) -> bool:
    """Space, tab, newline, carriage return, or a Unicode space separator (Zs)."""
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    """A Unicode "C*" character other than tab, newline and carriage return."""
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def is_punctuation(char: str) -> bool:
    """Any ASCII non-alphanumeric symbol, or a Unicode punctuation character (P*)."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_chinese_char(cp: int) -> bool:
    """Whether code point ``cp`` is in one of the CJK Unified Ideographs blocks BERT spaces out."""
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class _CleanTable(dict):
    """A ``str.translate`` table doing BERT's ``_clean_text`` and CJK spacing in one pass.

    NUL, U+FFFD and control characters are removed, whitespace becomes " ", CJK ideographs get a space on each
    side (when ``chinese``). Entries are computed on first sight of a character and kept.
    """

    def __init__(self, chinese: bool) -> None:
        super().__init__()
        self.chinese = chinese

    def __missing__(self, cp: int) -> str | None:
        char = chr(cp)
        if cp == 0 or cp == 0xFFFD or is_control(char):
            value = None
        elif is_whitespace(char):
            value = " "
        elif self.chinese and is_chinese_char(cp):
            value = f" {char} "
        else:
            value = char
        self[cp] = value
        return value


CLEAN_TABLES = {True: _CleanTable(True), False: _CleanTable(False)}


def clean_text(text: str, tokenize_chinese_chars: bool = True) -> str:
    """``_clean_text`` then ``_tokenize_chinese_chars`` then NFC, as BERT's basic tokenizer does."""
    text = text.translate(CLEAN_TABLES[tokenize_chinese_chars])
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def lower_per_char(text: str) -> str:
    """Lower-case one character at a time (as transformers' slow tokenizer): no final-sigma rule."""
    return text.lower() if "\u03a3" not in text else "".join(c.lower() for c in text)


def strip_accents(text: str) -> str:
    """NFD, then drop the combining marks (Mn)."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def split_on_punctuation(text: str) -> list[str]:
    """Split ``text`` so that every punctuation character is its own piece."""
    if text.isascii():
        return _ASCII_PUNCT_SPLIT.findall(text)
    out: list[str] = []
    start = 0
    for i, char in enumerate(text):
        if is_punctuation(char):
            if start < i:
                out.append(text[start:i])
            out.append(char)
            start = i + 1
    if start < len(text):
        out.append(text[start:])
    return out


class BasicTokenizer:
    """BERT's pre-tokenization: cleaning, CJK spacing, lower casing, accent stripping, punctuation split.

    Same arguments and results as transformers' ``BasicTokenizer``.
    """

    def __init__(self, do_lower_case: bool = True, never_split: Iterable[str] | None = None,
                 tokenize_chinese_chars: bool = True, strip_accents: bool | None = None,
                 do_split_on_punc: bool = True) -> None:
        self.do_lower_case = do_lower_case
        self.never_split = set(never_split or ())
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self.do_split_on_punc = do_split_on_punc

    def split_word(self, token: str, never_split: set[str]) -> list[str]:
        """Basic tokens of one whitespace-free token (already cleaned)."""
        if token not in never_split:
            if self.do_lower_case:
                token = token.lower()
                if self.strip_accents is not False:
                    token = strip_accents(token)
            elif self.strip_accents:
                token = strip_accents(token)
        if not self.do_split_on_punc or token in never_split:
            pieces = [token]
        else:
            pieces = split_on_punctuation(token)
        return " ".join(pieces).split()

    def tokenize(self, text: str, never_split: Iterable[str] | None = None) -> list[str]:
        """Basic tokens of ``text``; tokens in ``never_split`` (or the constructor's) are kept as they are."""
        never = self.never_split.union(never_split) if never_split else self.never_split
        out: list[str] = []
        for token in clean_text(text, self.tokenize_chinese_chars).split():
            out.extend(self.split_word(token, never))
        return out

    def __repr__(self) -> str:
        return (f"BasicTokenizer(do_lower_case={self.do_lower_case}, strip_accents={self.strip_accents}, "
                f"tokenize_chinese_chars={self.tokenize_chinese_chars}, never_split={sorted(self.never_split)})")


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece; a word longer than ``max_input_chars_per_word`` or with no
    match becomes ``unk_token``."""

    def __init__(self, vocab: dict[str, int], unk_token: str, max_input_chars_per_word: int = 100) -> None:
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        # "##" + piece in vocab  <=>  piece in _continuations; no piece is longer than the longest entry.
        self._continuations = {t[2:] for t in vocab if t.startswith("##")}
        self._longest = max((len(t) for t in vocab), default=0)
        self._longest_continuation = max((len(t) for t in self._continuations), default=0)

    def tokenize_word(self, word: str) -> list[str]:
        """WordPiece pieces of one word (no whitespace inside)."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return [self.unk_token]
        vocab = self.vocab
        if word in vocab:
            return [word]
        end = min(n, self._longest)
        while end > 0 and word[:end] not in vocab:
            end -= 1
        if end == 0:
            return [self.unk_token]
        pieces = [word[:end]]
        continuations, longest = self._continuations, self._longest_continuation
        start = end
        while start < n:
            end = min(n, start + longest)
            while end > start and word[start:end] not in continuations:
                end -= 1
            if end == start:
                return [self.unk_token]
            pieces.append("##" + word[start:end])
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """WordPiece pieces of every whitespace-separated word of ``text``."""
        out: list[str] = []
        for word in text.split():
            out.extend(self.tokenize_word(word))
        return out

    def __repr__(self) -> str:
        return (f"WordpieceTokenizer(vocab_size={len(self.vocab)}, unk_token={self.unk_token!r}, "
                f"max_input_chars_per_word={self.max_input_chars_per_word})")
