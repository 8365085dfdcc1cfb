"""The offset-tracking path of ``BertTokenizer``: the same tokens as ``text_to_ids``, each with its word index and
character span in the original text, for ``return_offsets_mapping`` and ``BatchEncoding``'s alignment methods.

It walks the text one character at a time (slower than ``text_to_ids``), so it runs only when asked: eagerly for
``return_offsets_mapping=True``, lazily on the first ``word_ids()`` / ``char_to_token()`` / ... call otherwise.
Words follow ``BertTokenizerFast``: each punctuation character, CJK character and added token is its own word;
with ``is_split_into_words=True`` a word is the caller's word and offsets count within it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bert_core.tokenization.alignment import Alignment
from bert_core.tokenization.padding import truncate_sequences
from bert_core.tokenization.wordpiece import CLEAN_TABLES, strip_accents

__all__ = ["OffsetsMixin"]

Record = tuple  # (id, token, start, end, word)
_WORD = re.compile(r"\S+")


def _mapped(text: str, src: list[int], transform) -> tuple[str, list[int]]:
    """Apply ``transform`` to each character, keeping for each output character the index of its source."""
    out: list[str] = []
    index: list[int] = []
    for char, origin in zip(text, src):
        piece = transform(char)
        if piece:
            out.append(piece)
            index.extend([origin] * len(piece))
    return "".join(out), index


def _composed(text: str, src: list[int]) -> tuple[str, list[int]]:
    """NFC of ``text``; each composed character takes the source index of the first character it comes from."""
    lengths = [len(unicodedata.normalize("NFC", text[:j])) for j in range(1, len(text) + 1)]
    out = unicodedata.normalize("NFC", text)
    index, j = [], 0
    for k in range(len(out)):
        while j < len(lengths) - 1 and lengths[j] <= k:
            j += 1
        index.append(src[j])
    return out, index


class OffsetsMixin:
    """``_alignments`` of ``BertTokenizer`` (which supplies the text state, the basic and WordPiece tokenizers)."""

    def _text_records(self, text: str, state, word: int = 0, fixed_word: bool = False) -> tuple[list[Record], int]:
        """Records of the tokens of ``text`` and the next free word index."""
        src = list(range(len(text)))
        if self.do_basic_tokenize and self.do_lower_case:
            parts = state.nolower_re.split(text) if state.nolower_re is not None else [text]
            out, index, pos = [], [], 0
            for k, part in enumerate(parts):
                piece, piece_src = (part, src[pos:pos + len(part)]) if k % 2 else \
                    _mapped(part, src[pos:pos + len(part)], str.lower)
                out.append(piece)
                index += piece_src
                pos += len(part)
            text, src = "".join(out), index
        records: list[Record] = []
        start = 0
        for match in state.added_re.finditer(text) if state.added_re is not None else ():
            word = self._plain_records(text[start:match.start()], src[start:match.start()], state, word,
                                       records, fixed_word)
            index = state.added[match.group()]
            first, last = match.start(), match.end() - 1
            added = self._added_tokens_decoder.get(index)
            if added is not None and added.lstrip:  # the stripped spaces belong to the token, as in the backend
                while first > start and text[first - 1].isspace():
                    first -= 1
            if added is not None and added.rstrip:
                while last + 1 < len(text) and text[last + 1].isspace():
                    last += 1
            records.append((index, self.convert_ids_to_tokens(index), src[first], src[last] + 1, word))
            word += not fixed_word
            start = last + 1
        word = self._plain_records(text[start:], src[start:], state, word, records, fixed_word)
        return records, word

    def _plain_records(self, text: str, src: list[int], state, word: int, records: list[Record],
                       fixed_word: bool) -> int:
        if not text:
            return word
        if self.do_basic_tokenize:
            table = CLEAN_TABLES[self.basic_tokenizer.tokenize_chinese_chars]
            text, src = _mapped(text, src, lambda c: c.translate(table))
        for match in _WORD.finditer(text):
            chunk, chunk_src = match.group(), src[match.start():match.end()]
            if self.do_basic_tokenize and not chunk.isascii() and unicodedata.normalize("NFC", chunk) != chunk:
                chunk, chunk_src = _composed(chunk, chunk_src)
            for piece, piece_src in self._pieces(chunk, chunk_src, state):
                self._piece_records(piece, piece_src, state, word, records)
                word += not fixed_word
        return word

    def _pieces(self, word: str, src: list[int], state) -> list[tuple[str, list[int]]]:
        """The basic tokenizer's pieces of one whitespace-free word, each with its source indices."""
        if not self.do_basic_tokenize:
            return [(word, src)]
        basic = self.basic_tokenizer
        pieces = basic.split_word(word, state.never_split)
        if word not in state.never_split and (basic.do_lower_case and basic.strip_accents is not False
                                              or basic.strip_accents):
            word, src = _mapped(word, src, strip_accents)
        out, pos = [], 0
        if "".join(pieces) != word.replace(" ", ""):  # a rare normalization that is not per character
            return [(piece, [src[0]] * (len(piece) - 1) + [src[-1]]) for piece in pieces]
        for piece in pieces:
            out.append((piece, src[pos:pos + len(piece)]))
            pos += len(piece)
        return out

    def _piece_records(self, piece: str, src: list[int], state, word: int, records: list[Record]) -> None:
        if piece in self.basic_tokenizer.never_split and self.do_basic_tokenize:
            tokens = [piece]
        else:
            tokens = self.wordpiece_tokenizer.tokenize_word(piece)
        ids = self.convert_tokens_to_ids(tokens)
        if tokens == [self.wordpiece_tokenizer.unk_token] or len(tokens) == 1:
            records.append((ids[0], tokens[0], src[0], src[-1] + 1, word))
            return
        pos = 0
        for index, token in zip(ids, tokens):
            size = len(token) - 2 if pos else len(token)
            records.append((index, token, src[pos], src[pos + size - 1] + 1, word))
            pos += size

    def _side_records(self, value: Any, is_split_into_words: bool, state) -> list[Record]:
        if isinstance(value, str):
            return self._text_records(value, state)[0]
        if is_split_into_words:
            return [r for w, text in enumerate(value) for r in self._text_records(text, state, w, True)[0]]
        ids = [int(i) for i in value] if value and not isinstance(value[0], str) else \
            self.convert_tokens_to_ids(list(value))
        return [(i, self.convert_ids_to_tokens(i), 0, 0, None) for i in ids]

    def _alignments(self, pairs: list[tuple[Any, Any]], rows: list[list[int]], is_split_into_words: bool,
                    add_special_tokens: bool, truncation_strategy: str, max_length: int | None, stride: int,
                    padding_side: str) -> list[Alignment]:
        """The alignment of each encoded row (``rows``: the final input_ids), with the call's truncation,
        special tokens and padding applied to the records as ``_prepare_ids`` and ``pad`` apply them to ids."""
        state = self._get_state()
        out = []
        for (a, b), ids in zip(pairs, rows):
            first = self._side_records(a, is_split_into_words, state)
            second = None if b is None else self._side_records(b, is_split_into_words, state)
            total = len(first) + (len(second) if second is not None else 0) + (
                self.num_special_tokens_to_add(second is not None) if add_special_tokens else 0)
            if truncation_strategy != "do_not_truncate" and max_length and total > max_length:
                first, second, _ = truncate_sequences(first, second, total - max_length, truncation_strategy,
                                                      stride, self.truncation_side, log=False)
            cls = [(self.cls_token_id, self.cls_token, 0, 0, None, None)]
            sep = [(self.sep_token_id, self.sep_token, 0, 0, None, None)]
            row = [r + (0,) for r in first]
            second = [r + (1,) for r in second] if second is not None else None
            if add_special_tokens:
                row = cls + row + sep + (second + sep if second is not None else [])
            elif second is not None:
                row = row + second
            pad = [(self.pad_token_id, self.pad_token, 0, 0, None, None)] * (len(ids) - len(row))
            row = row + pad if padding_side == "right" else pad + row
            if [r[0] for r in row] != list(ids):
                raise RuntimeError("BertTokenizer's offset-tracking path disagrees with its ids on "
                                   f"{a!r:.60}; please report this input.")
            out.append(Alignment([r[0] for r in row], [r[1] for r in row], [r[4] for r in row],
                                 [r[5] for r in row], [(r[2], r[3]) for r in row]))
        return out
