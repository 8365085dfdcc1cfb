"""``BertTokenizer``: pure-Python WordPiece with transformers v4's ``BertTokenizer`` semantics, and faster.

Results equal transformers' slow tokenizer (see tests/core/test_tokenizers_parity.py). Speed comes from whole-string
cleaning (``bert_core.tokenization.wordpiece``) and a per-word cache of ids (``bert_core.tokenization.bert_text``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from bert_core.files import atomic_write_text
from bert_core.tokenization.added import AddedToken, config_tokens
from bert_core.tokenization.alignment import LazyRows
from bert_core.tokenization.base import TokenizerBase
from bert_core.tokenization.bert_offsets import OffsetsMixin
from bert_core.tokenization.bert_text import WordPieceTextMixin, WordState
from bert_core.tokenization.files import (VOCAB_FILE, TokenizerFileError, check_vocab_specials, load_vocab,
                                          vocab_lines)
from bert_core.tokenization.wordpiece import BasicTokenizer, WordpieceTokenizer


class BertTokenizer(WordPieceTextMixin, OffsetsMixin, TokenizerBase):
    """BERT's WordPiece tokenizer in pure Python (transformers v4 ``BertTokenizer`` semantics).

    Args:
        vocab_file: path of a ``vocab.txt`` (one token a line). Or pass ``vocab`` (``{token: id}``) instead.
        do_lower_case: lower-case the text (uncased models).
        do_basic_tokenize: run the basic tokenizer (cleaning, punctuation split) before WordPiece.
        never_split: tokens the basic tokenizer keeps whole.
        tokenize_chinese_chars: put spaces around CJK ideographs.
        strip_accents: strip accents; None follows ``do_lower_case``.
        split_special_tokens: treat special-token text in the input as plain text.
        added_tokens_decoder: ``{id: {"content": ..., "special": ..., "normalized": ...}}`` (or ``AddedToken``
            values) from a tokenizer_config.json: tokens matched whole before WordPiece, with those ids.
        **kwargs: special tokens and the options of ``TokenizerBase``.
    """

    def __init__(self, vocab_file: str | os.PathLike | None = None, do_lower_case: bool = True,
                 do_basic_tokenize: bool = True, never_split: Iterable[str] | None = None,
                 unk_token: str = "[UNK]", sep_token: str = "[SEP]", pad_token: str = "[PAD]",
                 cls_token: str = "[CLS]", mask_token: str = "[MASK]", tokenize_chinese_chars: bool = True,
                 strip_accents: bool | None = None, *, vocab: dict[str, int] | None = None,
                 split_special_tokens: bool = False, added_tokens_decoder: dict | None = None,
                 **kwargs: Any) -> None:
        source = "passed as vocab="
        if vocab is None:
            if vocab_file is None:
                raise TokenizerFileError("BertTokenizer needs a vocabulary: pass vocab_file='.../vocab.txt', "
                                         "vocab={token: id}, or use BertTokenizer.from_pretrained(folder).")
            vocab, source = load_vocab(vocab_file), f"'{os.fspath(vocab_file)}'"
        check_vocab_specials(vocab, source, unk_token=unk_token, cls_token=cls_token, sep_token=sep_token)
        super().__init__(unk_token=unk_token, sep_token=sep_token, pad_token=pad_token, cls_token=cls_token,
                         mask_token=mask_token, **kwargs)
        self.vocab = dict(vocab)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_basic_tokenize = do_basic_tokenize
        self.never_split = None if never_split is None else list(never_split)
        self.basic_tokenizer = BasicTokenizer(do_lower_case, self.never_split, tokenize_chinese_chars, strip_accents)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, str(self.unk_token))
        self.split_special_tokens = split_special_tokens
        self._added_tokens_decoder: dict[int, AddedToken] = {}
        self._added_tokens_encoder: dict[str, int] = {}
        self._added_version = 0  # bumped by every change of the added tokens (rebuilds the text state)
        for index, token in config_tokens(added_tokens_decoder, self.all_special_tokens):
            self._added_tokens_decoder[index] = token
            self._added_tokens_encoder[token.content] = index
        self._state: WordState | None = None
        self._add_tokens(self._missing_special_tokens(self._added_tokens_encoder), True)

    # ---- options ---------------------------------------------------------------------------------------------
    @property
    def do_lower_case(self) -> bool:
        return self.basic_tokenizer.do_lower_case

    @property
    def tokenize_chinese_chars(self) -> bool:
        return self.basic_tokenizer.tokenize_chinese_chars

    @property
    def strip_accents(self) -> bool | None:
        return self.basic_tokenizer.strip_accents

    # ---- vocabulary ------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._added_tokens_decoder.items()))

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab, **self._added_tokens_encoder)

    def __len__(self) -> int:
        return len(self.get_vocab())

    def _add_tokens(self, tokens: list[AddedToken], special_tokens: bool) -> int:
        """Register ``tokens`` (transformers' rules): an identical one is skipped, a known content is updated, a
        vocabulary token keeps its id, a new one gets the next free id. Returns how many got a new id."""
        new = 0
        for token in tokens:
            index = self._added_tokens_encoder.get(token.content, self.vocab.get(token.content))
            if index is not None and self._added_tokens_decoder.get(index) == token:
                continue
            if index is None:
                index = max(len(self.vocab), max(self._added_tokens_decoder, default=-1) + 1)
                new += 1
            self._added_tokens_decoder[index] = token
            self._added_tokens_encoder[token.content] = index
        self._added_version += 1
        return new

    def _convert_token_to_id(self, token: str) -> int | None:
        index = self._added_tokens_encoder.get(token)
        return self.vocab.get(token) if index is None else index

    def _convert_id_to_token(self, index: int) -> str:
        token = self._added_tokens_decoder.get(index)
        return self.ids_to_tokens.get(index, self.unk_token) if token is None else token.content

    def _input_ids(self, value: str | list[str] | list[int], is_split_into_words: bool, state) -> list[int]:
        """Ids of one side of an input: a text, a list of words (split), a list of tokens or a list of ids."""
        if isinstance(value, str):
            return self.text_to_ids(value, state)
        if is_split_into_words:
            return [i for word in value for i in self.text_to_ids(word, state)]
        if value and not isinstance(value[0], str):
            return [int(i) for i in value]
        return self.convert_tokens_to_ids(list(value))

    def _encode_batch(self, pairs: list[tuple[Any, Any]], *, is_split_into_words: bool, padding_strategy: str,
                      max_length: int | None, pad_to_multiple_of: int | None, padding_side: str,
                      return_attention_mask: bool, return_offsets_mapping: bool,
                      **options: Any) -> tuple[dict[str, list], None, Any]:
        state, split = self._get_state(), is_split_into_words
        text_ids, other_ids = self.text_to_ids, self._input_ids  # texts (the common case) skip one call
        rows = [self._prepare_ids(text_ids(a, state) if type(a) is str else other_ids(a, split, state),
                                  None if b is None else text_ids(b, state) if type(b) is str
                                  else other_ids(b, split, state), max_length=max_length, **options)
                for a, b in pairs]
        batch = {key: [row[key] for row in rows] for key in rows[0]} if rows else {"input_ids": []}
        data = dict(self.pad(batch, padding=padding_strategy, max_length=max_length,
                             pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                             return_attention_mask=return_attention_mask).data)
        ids = list(data["input_ids"])
        alignments = LazyRows(lambda: self._alignments(
            pairs, ids, split, options["add_special_tokens"], options["truncation_strategy"], max_length,
            options["stride"], padding_side))
        if return_offsets_mapping:
            data["offset_mapping"] = [row.offsets for row in alignments.rows()]
        return data, None, alignments

    # ---- decoding and files ----------------------------------------------------------------------------------
    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Join WordPiece tokens into text (``##`` continuations glued to the previous piece)."""
        return " ".join(tokens).replace(" ##", "").strip()

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        specials = set(self.all_special_tokens)
        loose = set(self._added_tokens_encoder) - specials | {
            t for t in self.additional_special_tokens if self.convert_tokens_to_ids(t) >= self.vocab_size}
        texts: list[str] = []
        current: list[str] = []
        for token in self.convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens):
            if skip_special_tokens and token in specials:
                continue
            if token in loose:
                if current and (text := self.convert_tokens_to_string(current)):
                    texts.append(text)
                current = []
                texts.append(token)
            else:
                current.append(token)
        if current:
            texts.append(self.convert_tokens_to_string(current))
        return " ".join(texts)

    @classmethod
    def _from_folder(cls, folder: str, vocab_file: str | None, options: dict[str, Any]) -> BertTokenizer:
        if vocab_file is None:
            raise TokenizerFileError(f"No {VOCAB_FILE} in '{folder}': the pure-Python BertTokenizer reads its "
                                     "vocabulary from vocab.txt. Use BertTokenizerFast for a folder that only has "
                                     "tokenizer.json.")
        return cls(vocab_file, **options)

    def _write_files(self, folder: str, legacy_format: bool | None) -> None:
        atomic_write_text(os.path.join(folder, VOCAB_FILE), vocab_lines(self.vocab))
