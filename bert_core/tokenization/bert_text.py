"""The text-to-ids path of ``BertTokenizer``: added-token splitting, cleaning, basic tokenization and WordPiece,
with a per-word cache of ids (real text repeats its words, so most words cost one dict lookup).

``WordState`` holds what the tokenizer derives from its special / added tokens and options: the regexes that split
them out of the text and the per-word caches, rebuilt (caches emptied) when any of them changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain

from bert_core.tokenization.wordpiece import clean_text, lower_per_char

__all__ = ["WordPieceTextMixin", "WordState", "alternation"]

_CACHE_LIMIT = 1 << 18  # distinct words cached per tokenizer before the cache starts over


def alternation(tokens: Iterable[str], single_word: set[str] = frozenset()) -> re.Pattern | None:
    """A regex matching any of ``tokens`` (longest first, those in ``single_word`` only between word boundaries),
    as one capturing group; None if there are none."""
    tokens = sorted(set(tokens), key=lambda t: (-len(t), t))
    parts = [rf"(?<!\w){re.escape(t)}(?!\w)" if t in single_word else re.escape(t) for t in tokens]
    return re.compile("(" + "|".join(parts) + ")") if tokens else None


class WordState:
    """What BertTokenizer derives from its special / added tokens and options, with the per-word caches; rebuilt
    (caches emptied) when any of them changes."""

    __slots__ = ("key", "added", "added_re", "nolower_re", "never_split", "remapped", "alias", "ids", "tokens")

    def __init__(self, key: tuple, added: dict[str, int], added_re, nolower_re, never_split: set[str],
                 remapped: bool = False, alias: dict[str, str] | None = None) -> None:
        self.key, self.added, self.added_re, self.nolower_re = key, added, added_re, nolower_re
        self.never_split, self.remapped = never_split, remapped  # remapped: an added token overrides a vocab id
        self.alias = alias or {}  # matched text -> added token, where they differ (lower-cased matches)
        self.ids: dict[str, tuple[int, ...]] = {}  # word -> ids
        self.tokens: dict[str, tuple[str, ...]] = {}  # word -> tokens


class WordPieceTextMixin:
    """``tokenize`` and ``text_to_ids`` of ``BertTokenizer`` (which supplies the vocabulary, the basic and WordPiece
    tokenizers, the special tokens and ``convert_tokens_to_ids``)."""

    def _get_state(self) -> WordState:
        basic = self.basic_tokenizer
        key = (self.unk_token, self.sep_token, self.pad_token, self.cls_token, self.mask_token, self.bos_token,
               self.eos_token, tuple(self.additional_special_tokens), self.split_special_tokens,
               self.do_basic_tokenize, basic.do_lower_case, basic.strip_accents, basic.tokenize_chinese_chars,
               basic.do_split_on_punc, len(basic.never_split), len(self.vocab), self._added_version)
        state = self._state
        if state is None or state.key != key:
            state = self._state = self._build_state(key)
        return state

    def _build_state(self, key: tuple) -> WordState:
        """Special tokens (attributes and added) are matched whole unless ``split_special_tokens``; other added
        tokens always. Normalized non-special ones are matched on the lower-cased text, the rest as written."""
        specials = self.all_special_tokens
        decoder = self._added_tokens_decoder
        added = {t: self.convert_tokens_to_ids(t) for t in specials if t not in self._added_tokens_encoder}
        added.update(self._added_tokens_encoder)
        special_set = set(specials) | {t.content for t in decoder.values() if t.special}
        never = set(self.basic_tokenizer.never_split)
        if self.split_special_tokens:
            added = {t: i for t, i in added.items() if t not in special_set}
        else:
            never |= set(specials)
        alias = {}  # lower-cased form -> token, for normalized tokens stored with capitals
        if self.do_basic_tokenize and self.do_lower_case:  # normalized tokens match the lower-cased text
            for token, index in list(added.items()):
                if token not in special_set and decoder[index].normalized and token.lower() not in added:
                    added[token.lower()], alias[token.lower()] = index, token
        single = {t for t, i in added.items() if i in decoder and decoder[i].single_word}
        keep_case = [t for t in added if t in special_set or not decoder[added[t]].normalized]
        vocab = self.vocab
        remapped = any(vocab.get(t, i) != i for t, i in self._added_tokens_encoder.items())
        return WordState(key, added, alternation(added, single), alternation(keep_case), never, remapped, alias)

    def _chunks(self, text: str, state: WordState) -> list[str]:
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

    def _compute_tokens(self, word: str, state: WordState) -> tuple[str, ...]:
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

    def _word_tokens(self, word: str, state: WordState) -> tuple[str, ...]:
        tokens = state.tokens.get(word)
        if tokens is None:
            tokens = self._compute_tokens(word, state)
            if len(state.tokens) >= _CACHE_LIMIT:
                state.tokens.clear()
            state.tokens[word] = tokens
        return tokens

    def _word_ids(self, word: str, state: WordState) -> tuple[int, ...]:
        tokens = self._compute_tokens(word, state)
        vocab = self.vocab
        if not state.remapped and all(t in vocab for t in tokens):
            ids = tuple(map(vocab.__getitem__, tokens))
        else:
            ids = tuple(self.convert_tokens_to_ids(list(tokens)))
        if len(state.ids) >= _CACHE_LIMIT:
            state.ids.clear()
        state.ids[word] = ids
        return ids

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False) -> list[str]:
        """The WordPiece tokens of ``text`` (and ``pair``), special tokens only if ``add_special_tokens``."""
        if pair is not None or add_special_tokens:
            return self.convert_ids_to_tokens(self.encode(text, pair, add_special_tokens=add_special_tokens))
        state = self._get_state()
        out: list[str] = []
        for i, chunk in enumerate(self._chunks(text, state)):
            if i % 2:
                out.append(state.alias.get(chunk, chunk))
            elif chunk:
                for word in self._words(chunk):
                    out.extend(self._word_tokens(word, state))
        return out

    def text_to_ids(self, text: str, _state: WordState | None = None) -> list[int]:
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
