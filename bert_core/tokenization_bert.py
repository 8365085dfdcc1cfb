"""``BertTokenizer``: pure-Python WordPiece with transformers v4's ``BertTokenizer`` semantics, and faster.

Results equal transformers' slow tokenizer (see tests/core/test_tokenizers_parity.py). Speed comes from whole-string
cleaning (``bert_core.tokenization_wordpiece``) and a per-word cache of ids: real text repeats its words, so most
words cost one dict lookup.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from itertools import chain
from typing import Any

from bert_core.files import atomic_write_text
from bert_core.tokenization_files import VOCAB_FILE, TokenizerFileError, load_vocab, vocab_lines
from bert_core.tokenization_utils import TokenizerBase, added_token_entry
from bert_core.tokenization_wordpiece import BasicTokenizer, WordpieceTokenizer, clean_text, lower_per_char

_CACHE_LIMIT = 1 << 18  # distinct words cached per tokenizer before the cache starts over


def _alternation(tokens: Iterable[str]) -> re.Pattern | None:
    """A regex matching any of ``tokens`` (longest first), as one capturing group; None if there are none."""
    tokens = sorted(set(tokens), key=lambda t: (-len(t), t))
    return re.compile("(" + "|".join(map(re.escape, tokens)) + ")") if tokens else None


class _State:
    """What BertTokenizer derives from its special / added tokens and options, with the per-word caches; rebuilt
    (caches emptied) when any of them changes."""

    __slots__ = ("key", "added", "added_re", "nolower_re", "never_split", "ids", "tokens")

    def __init__(self, key: tuple, added: dict[str, int], added_re, nolower_re, never_split: set[str]) -> None:
        self.key, self.added, self.added_re, self.nolower_re = key, added, added_re, nolower_re
        self.never_split = never_split
        self.ids: dict[str, tuple[int, ...]] = {}  # word -> ids
        self.tokens: dict[str, tuple[str, ...]] = {}  # word -> tokens


class BertTokenizer(TokenizerBase):
    """BERT's WordPiece tokenizer in pure Python (transformers v4 ``BertTokenizer`` semantics).

    Args:
        vocab_file: path of a ``vocab.txt`` (one token a line). Or pass ``vocab`` (``{token: id}``) instead.
        do_lower_case: lower-case the text (uncased models).
        do_basic_tokenize: run the basic tokenizer (cleaning, punctuation split) before WordPiece.
        never_split: tokens the basic tokenizer keeps whole.
        tokenize_chinese_chars: put spaces around CJK ideographs.
        strip_accents: strip accents; None follows ``do_lower_case``.
        split_special_tokens: treat special-token text in the input as plain text.
        added_tokens_decoder: ``{id: {"content": ..., "special": ..., "normalized": ...}}`` from a
            tokenizer_config.json: tokens matched whole before WordPiece.
        **kwargs: special tokens and the options of ``TokenizerBase``.
    """

    def __init__(self, vocab_file: str | os.PathLike | None = None, do_lower_case: bool = True,
                 do_basic_tokenize: bool = True, never_split: Iterable[str] | None = None,
                 unk_token: str = "[UNK]", sep_token: str = "[SEP]", pad_token: str = "[PAD]",
                 cls_token: str = "[CLS]", mask_token: str = "[MASK]", tokenize_chinese_chars: bool = True,
                 strip_accents: bool | None = None, *, vocab: dict[str, int] | None = None,
                 split_special_tokens: bool = False, added_tokens_decoder: dict | None = None,
                 **kwargs: Any) -> None:
        if vocab is None:
            if vocab_file is None:
                raise TokenizerFileError("BertTokenizer needs a vocabulary: pass vocab_file='.../vocab.txt', "
                                         "vocab={token: id}, or use BertTokenizer.from_pretrained(folder).")
            vocab = load_vocab(vocab_file)
        super().__init__(unk_token=unk_token, sep_token=sep_token, pad_token=pad_token, cls_token=cls_token,
                         mask_token=mask_token, **kwargs)
        self.vocab = dict(vocab)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_basic_tokenize = do_basic_tokenize
        self.never_split = None if never_split is None else list(never_split)
        self.basic_tokenizer = BasicTokenizer(do_lower_case, self.never_split, tokenize_chinese_chars, strip_accents)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, str(unk_token))
        self.split_special_tokens = split_special_tokens
        self._extra_added: dict[str, int] = {}  # added tokens from a config, beyond the special tokens
        self._normalized_added: set[str] = set()
        for index, entry in (added_tokens_decoder or {}).items():
            entry = entry if isinstance(entry, dict) else {"content": str(entry), "special": True}
            self._extra_added[entry["content"]] = int(index)
            if not entry.get("special", False) and entry.get("normalized", True):
                self._normalized_added.add(entry["content"])
        self._extra_added_ids = {i: t for t, i in self._extra_added.items()}
        self._state: _State | None = None

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
    def added_tokens_encoder(self) -> dict[str, int]:
        """Tokens matched whole in the input (special tokens and configured added tokens) and their ids."""
        return self._get_state().added

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab, **self.added_tokens_encoder)

    def __len__(self) -> int:
        return len(self.get_vocab())

    def _convert_token_to_id(self, token: str) -> int | None:
        index = self._extra_added.get(token)
        return self.vocab.get(token) if index is None else index

    def _convert_id_to_token(self, index: int) -> str:
        token = self._extra_added_ids.get(index)
        return self.ids_to_tokens.get(index, self.unk_token) if token is None else token

    def _added_tokens_config(self) -> dict[str, dict[str, Any]]:
        out = super()._added_tokens_config()
        specials = set(self.all_special_tokens)
        for token, index in self._extra_added.items():
            out.setdefault(str(index), added_token_entry(token, token in specials, token in self._normalized_added))
        return out

    # ---- tokenization ----------------------------------------------------------------------------------------
    def _get_state(self) -> _State:
        basic = self.basic_tokenizer
        key = (self.unk_token, self.sep_token, self.pad_token, self.cls_token, self.mask_token, self.bos_token,
               self.eos_token, tuple(self.additional_special_tokens), self.split_special_tokens,
               self.do_basic_tokenize, basic.do_lower_case, basic.strip_accents, basic.tokenize_chinese_chars,
               basic.do_split_on_punc, len(basic.never_split), len(self.vocab))
        state = self._state
        if state is None or state.key != key:
            specials = self.all_special_tokens
            added = {t: self.convert_tokens_to_ids(t) for t in specials}
            added.update(self._extra_added)
            never = set(self.basic_tokenizer.never_split)
            if not self.split_special_tokens:
                never |= set(specials)
            added_re = None if self.split_special_tokens else _alternation(added)
            state = self._state = _State(key, added, added_re, _alternation([*specials, *self._normalized_added]),
                                         never)
        return state

    def _chunks(self, text: str, state: _State) -> list[str]:
        """Lower-case (except special tokens) and split ``text`` on added tokens: [plain, added, plain, ...]."""
        if self.do_basic_tokenize and self.do_lower_case:
            if state.nolower_re is None:
                text = lower_per_char(text)
            else:
                parts = state.nolower_re.split(text)
                parts[::2] = map(lower_per_char, parts[::2])
                text = "".join(parts)
        return [text] if state.added_re is None else state.added_re.split(text)

    def _words(self, chunk: str) -> list[str]:
        if self.do_basic_tokenize:
            chunk = clean_text(chunk, self.basic_tokenizer.tokenize_chinese_chars)
        return chunk.split()

    def _compute_tokens(self, word: str, state: _State) -> tuple[str, ...]:
        """Basic tokenization then WordPiece of one whitespace-free word."""
        wordpiece = self.wordpiece_tokenizer.tokenize_word
        if not self.do_basic_tokenize:
            return tuple(wordpiece(word))
        out: list[str] = []
        keep = self.basic_tokenizer.never_split
        for piece in self.basic_tokenizer.split_word(word, state.never_split):
            if piece in keep:
                out.append(piece)
            else:
                out += wordpiece(piece)
        return tuple(out)

    def _word_tokens(self, word: str, state: _State) -> tuple[str, ...]:
        tokens = state.tokens.get(word)
        if tokens is None:
            tokens = self._compute_tokens(word, state)
            if len(state.tokens) >= _CACHE_LIMIT:
                state.tokens.clear()
            state.tokens[word] = tokens
        return tokens

    def _word_ids(self, word: str, state: _State) -> tuple[int, ...]:
        tokens = self._compute_tokens(word, state)
        vocab, extra = self.vocab, self._extra_added
        if not extra and all(t in vocab for t in tokens):
            ids = tuple(map(vocab.__getitem__, tokens))
        else:
            ids = tuple(self.convert_tokens_to_ids(list(tokens)))
        if len(state.ids) >= _CACHE_LIMIT:
            state.ids.clear()
        state.ids[word] = ids
        return ids

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text`` (no special tokens added)."""
        state = self._get_state()
        out: list[str] = []
        for i, chunk in enumerate(self._chunks(text, state)):
            if i % 2:
                out.append(chunk)
            elif chunk:
                for word in self._words(chunk):
                    out.extend(self._word_tokens(word, state))
        return out

    def text_to_ids(self, text: str, _state: _State | None = None) -> list[int]:
        """``convert_tokens_to_ids(tokenize(text))``, computed without building the token list."""
        state = _state or self._get_state()
        lookup = state.ids.get
        chunks = self._chunks(text, state)
        out: list[int] = []
        for i, chunk in enumerate(chunks):
            if i % 2:
                out.append(state.added[chunk])
            elif chunk:
                words = self._words(chunk)
                entries = list(map(lookup, words))  # cached words cost one C-level dict lookup
                if None in entries:
                    entries = [self._word_ids(w, state) if e is None else e for e, w in zip(entries, words)]
                out.extend(chain.from_iterable(entries))
        return out

    def _encode_batch(self, pairs: list[tuple[str, str | None]], *, padding_strategy: str, max_length: int | None,
                      pad_to_multiple_of: int | None, padding_side: str, return_attention_mask: bool,
                      return_offsets_mapping: bool, **options: Any) -> tuple[dict[str, list], None]:
        if return_offsets_mapping:
            raise NotImplementedError("return_offsets_mapping needs character offsets, which only BertTokenizerFast "
                                      "tracks; use BertTokenizerFast or leave return_offsets_mapping=False.")
        state = self._get_state()
        rows = [self.prepare_for_model(self.text_to_ids(a, state), None if b is None else self.text_to_ids(b, state),
                                       max_length=max_length, **options) for a, b in pairs]
        batch = {key: [row[key] for row in rows] for key in rows[0]} if rows else {"input_ids": []}
        encoded = self.pad(batch, padding=padding_strategy, max_length=max_length,
                           pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                           return_attention_mask=return_attention_mask)
        return dict(encoded.data), None

    # ---- decoding and files ----------------------------------------------------------------------------------
    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Join WordPiece tokens into text (``##`` continuations glued to the previous piece)."""
        return " ".join(tokens).replace(" ##", "").strip()

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        specials = set(self.all_special_tokens)
        loose = set(self._extra_added) - specials | {
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

    def _write_files(self, folder: str) -> None:
        atomic_write_text(os.path.join(folder, VOCAB_FILE), vocab_lines(self.vocab))
