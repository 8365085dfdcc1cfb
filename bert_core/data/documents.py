"""Reading a corpus lazily: text files -> documents (lists of sentences) -> token ids.

The input format is Google's ``create_pretraining_data.py`` format: one sentence per line, documents separated
by blank (or whitespace-only) lines. Unlike Google's script, the end of a file always ends a document, and a
document longer than ``max_document_sentences`` is cut into pieces so that no single document has to fit in
memory whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

PathLike = str | os.PathLike


class Tokenizer(Protocol):
    """What the pipeline needs from a tokenizer (``bert_core.BertTokenizer`` and transformers' ones qualify)."""

    cls_token_id: int
    sep_token_id: int
    mask_token_id: int
    pad_token_id: int

    def tokenize(self, text: str) -> list[str]: ...

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]: ...


@dataclass(frozen=True)
class TokenizedDocument:
    """A document as one int32 array of token ids; sentence ``i`` is ``ids[bounds[i]:bounds[i + 1]]``."""

    ids: np.ndarray
    bounds: np.ndarray

    def __len__(self) -> int:
        """The number of sentences (every one holds at least one token)."""
        return len(self.bounds) - 1

    def __repr__(self) -> str:
        return f"TokenizedDocument(sentences={len(self)}, tokens={len(self.ids)})"


def read_documents(paths: Iterable[PathLike], *, max_document_sentences: int | None = 10_000,
                   encoding: str = "utf-8") -> Iterator[list[str]]:
    """Yield the documents of ``paths`` one at a time, each a list of stripped, non-empty lines.

    Files are opened only when the previous one is exhausted, and lines are read one at a time, so ``paths`` may be
    a lazy generator over any number of files. A document with more than ``max_document_sentences`` lines is
    yielded in pieces of that many lines (``None``: never cut).
    """
    if max_document_sentences is not None and max_document_sentences < 1:
        raise ValueError(f"max_document_sentences must be >= 1 or None, got {max_document_sentences}")
    for path in paths:
        document: list[str] = []
        with open(path, encoding=encoding) as f:
            try:
                for line in f:
                    line = line.strip()
                    if line:
                        document.append(line)
                        if max_document_sentences is not None and len(document) >= max_document_sentences:
                            yield document
                            document = []
                    elif document:
                        yield document
                        document = []
            except UnicodeDecodeError as e:
                raise ValueError(f"{os.fspath(path)!r} is not valid {encoding} text ({e}). Convert the file to "
                                 f"{encoding}, or pass the right encoding.") from e
        if document:
            yield document


def tokenize_document(sentences: Sequence[str], tokenizer: Tokenizer) -> TokenizedDocument | None:
    """Tokenize each sentence; drop those with no tokens. Returns ``None`` when nothing is left."""
    pieces: list[list[int]] = []
    for sentence in sentences:
        tokens = tokenizer.tokenize(sentence)
        if tokens:
            pieces.append(tokenizer.convert_tokens_to_ids(tokens))
    if not pieces:
        return None
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    bounds = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    ids = np.fromiter((i for p in pieces for i in p), dtype=np.int32, count=int(bounds[-1]))
    return TokenizedDocument(ids, bounds)


def tokenize_documents(documents: Iterable[Sequence[str]], tokenizer: Tokenizer) -> Iterator[TokenizedDocument]:
    """Tokenize documents lazily, skipping those that hold no tokens."""
    for sentences in documents:
        document = tokenize_document(sentences, tokenizer)
        if document is not None:
            yield document


def special_token_ids(tokenizer: Any) -> dict[str, int]:
    """The ids of [CLS], [SEP], [MASK] and [PAD] from ``tokenizer``'s ``*_token_id`` attributes."""
    ids = {}
    for name in ("cls", "sep", "mask", "pad"):
        value = getattr(tokenizer, f"{name}_token_id", None)
        if value is None:
            raise ValueError(f"the tokenizer ({type(tokenizer).__name__}) has no {name}_token_id; the pre-training "
                             f"pipeline needs [CLS], [SEP], [MASK] and [PAD] in the vocabulary.")
        ids[name] = int(value)
    return ids


def vocabulary(tokenizer: Any) -> dict[str, int] | None:
    """``tokenizer``'s token -> id mapping (``vocab`` attribute or ``get_vocab()``), or ``None`` if it has none."""
    vocab = getattr(tokenizer, "vocab", None)
    if vocab is None and callable(getattr(tokenizer, "get_vocab", None)):
        vocab = tokenizer.get_vocab()
    return dict(vocab) if vocab is not None else None


def vocab_size(tokenizer: Any) -> int:
    """The number of ids random replacement may draw from: ``tokenizer.vocab_size``, else ``len(vocab)``."""
    size = getattr(tokenizer, "vocab_size", None)
    if size is None:
        vocab = vocabulary(tokenizer)
        if vocab is None:
            raise ValueError(f"the tokenizer ({type(tokenizer).__name__}) has neither vocab_size nor vocab.")
        size = max(vocab.values()) + 1
    return int(size)


def subword_table(tokenizer: Any) -> np.ndarray:
    """A boolean table over ids: True where the token continues a word (WordPiece ``##`` prefix)."""
    vocab = vocabulary(tokenizer)
    if vocab is None:
        raise ValueError(f"whole-word masking needs the tokenizer's vocabulary, and {type(tokenizer).__name__} has "
                         f"neither a vocab attribute nor get_vocab().")
    table = np.zeros(max(vocab_size(tokenizer), max(vocab.values()) + 1), dtype=bool)
    for token, index in vocab.items():
        if token.startswith("##"):
            table[index] = True
    return table
