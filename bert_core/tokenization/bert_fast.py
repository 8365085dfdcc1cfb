"""``BertTokenizerFast``: BERT WordPiece backed by the Rust ``tokenizers`` library (transformers v4 semantics).

Built from a ``vocab.txt`` and options (the same pipeline transformers' converter builds: BertNormalizer,
BertPreTokenizer, WordPiece, a [CLS]/[SEP] template) or read from a ``tokenizer.json``. Truncation and padding run
in the backend, as in transformers, so results (including offsets and overflowing windows) match its
``BertTokenizerFast``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from tokenizers import Tokenizer

from bert_core.files import atomic_write_text
from bert_core.tokenization.added import AddedToken, config_tokens
from bert_core.tokenization.backend import (bert_template, build_backend, configure_backend, read_tokenizer_file,
                                            sync_normalizer)
from bert_core.tokenization.base import TokenizerBase
from bert_core.tokenization.fast_builders import FastBuildersMixin
from bert_core.tokenization.files import (TOKENIZER_FILE, VOCAB_FILE, TokenizerFileError, check_vocab_specials,
                                          load_vocab, vocab_lines)


class BertTokenizerFast(FastBuildersMixin, TokenizerBase):
    """BERT's WordPiece tokenizer on the ``tokenizers`` backend (transformers v4 ``BertTokenizerFast``).

    Args:
        vocab_file: a ``vocab.txt``; or ``vocab`` (``{token: id}``); or ``tokenizer_file`` (a ``tokenizer.json``);
            or ``tokenizer_object`` (a ``tokenizers.Tokenizer``).
        do_lower_case, tokenize_chinese_chars, strip_accents: normalizer options (applied to a tokenizer.json's
            BertNormalizer too, as transformers does).
        clean_text: remove control characters and normalize whitespace (built-from-vocab only).
        added_tokens_decoder: extra added tokens from a tokenizer_config.json.
        **kwargs: special tokens and the options of ``TokenizerBase``.

    Calls accept ``return_offsets_mapping`` and ``return_overflowing_tokens`` (with ``stride``); the result's
    ``encodings`` give ``tokens()``, ``word_ids()`` and ``sequence_ids()``.
    """

    is_fast = True

    def __init__(self, vocab_file: str | os.PathLike | None = None, tokenizer_file: str | os.PathLike | None = None,
                 do_lower_case: bool = True, unk_token: str = "[UNK]", sep_token: str = "[SEP]",
                 pad_token: str = "[PAD]", cls_token: str = "[CLS]", mask_token: str = "[MASK]",
                 tokenize_chinese_chars: bool = True, strip_accents: bool | None = None, *,
                 vocab: dict[str, int] | None = None, tokenizer_object: Tokenizer | None = None,
                 clean_text: bool = True, wordpieces_prefix: str = "##", added_tokens_decoder: dict | None = None,
                 split_special_tokens: bool = False, do_basic_tokenize: bool = True,
                 never_split: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(unk_token=unk_token, sep_token=sep_token, pad_token=pad_token, cls_token=cls_token,
                         mask_token=mask_token, **kwargs)
        if tokenizer_object is not None or tokenizer_file is not None:
            backend = Tokenizer.from_str(tokenizer_object.to_str()) if tokenizer_object is not None else \
                read_tokenizer_file(os.fspath(tokenizer_file))
            source = "passed as tokenizer_object=" if tokenizer_object is not None else f"'{os.fspath(tokenizer_file)}'"
            check_vocab_specials(backend.get_vocab(with_added_tokens=True), source, unk_token=self.unk_token,
                                 cls_token=self.cls_token, sep_token=self.sep_token)
        else:
            source = "passed as vocab="
            if vocab is None:
                if vocab_file is None:
                    raise TokenizerFileError("BertTokenizerFast needs a vocabulary: pass vocab_file='.../vocab.txt', "
                                             "tokenizer_file='.../tokenizer.json', vocab={token: id}, or use "
                                             "BertTokenizerFast.from_pretrained(folder).")
                vocab, source = load_vocab(vocab_file), f"'{os.fspath(vocab_file)}'"
            backend = build_backend(vocab, self.unk_token, self.cls_token, self.sep_token, do_lower_case,
                                    tokenize_chinese_chars, strip_accents, clean_text, wordpieces_prefix, source)
        self._tokenizer = backend
        sync_normalizer(self._tokenizer, do_lower_case, tokenize_chinese_chars, strip_accents)
        self.do_lower_case, self.tokenize_chinese_chars, self.strip_accents = (do_lower_case, tokenize_chinese_chars,
                                                                               strip_accents)
        self.do_basic_tokenize, self.never_split = do_basic_tokenize, never_split
        self.split_special_tokens = split_special_tokens
        self._template_key = (self.cls_token, self.sep_token)  # what the backend's post-processor frames with
        self._names_key, self._names = -1, {}  # _renamed_added() cache
        known = {t.content for t in self._tokenizer.get_added_tokens_decoder().values()}
        fresh = [t for _, t in config_tokens(added_tokens_decoder, self.all_special_tokens) if t.content not in known]
        known |= {t.content for t in fresh}
        self._add_tokens(fresh + self._missing_special_tokens(known), True)

    @property
    def backend_tokenizer(self) -> Tokenizer:
        """The ``tokenizers.Tokenizer`` doing the work."""
        return self._tokenizer

    @property
    def split_special_tokens(self) -> bool:
        """Treat special-token text in the input as plain text (the backend's ``encode_special_tokens``)."""
        return self._tokenizer.encode_special_tokens

    @split_special_tokens.setter
    def split_special_tokens(self, value: bool) -> None:
        self._tokenizer.encode_special_tokens = bool(value)

    # ---- vocabulary ------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    vocab = property(get_vocab, doc="``get_vocab()`` (transformers' fast tokenizers expose it as ``vocab``).")

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._tokenizer.get_added_tokens_decoder().items()))

    def _add_tokens(self, tokens: list[AddedToken], special_tokens: bool) -> int:
        """Hand ``tokens`` to the backend in order (special ones through ``add_special_tokens``, so decoding can skip
        them); returns how many got a new id."""
        before = len(self)
        run: list[AddedToken] = []
        for token in [*tokens, None]:
            if run and (token is None or token.special != run[0].special):
                (self._tokenizer.add_special_tokens if run[0].special else self._tokenizer.add_tokens)(run)
                run = []
            if token is not None:
                run.append(token)
        self._names_key = -1
        return len(self) - before

    def _renamed_added(self) -> dict[int, str]:
        """``{id: content}`` of the added tokens the backend names differently from their stored content.

        tokenizers >= 0.23 names a normalized added token by its normalized form in ``id_to_token`` and ``decode``
        (``"NoLow"`` on a lower-casing tokenizer reads back as ``"nolow"``); transformers 4.57 (on tokenizers 0.22)
        gives the content as stored, and so does this tokenizer on every version. Empty on tokenizers < 0.23.
        """
        if getattr(self, "_names_key", -1) != len(self):
            backend = self._tokenizer
            self._names = {i: t.content for i, t in backend.get_added_tokens_decoder().items()
                           if t.normalized and backend.id_to_token(i) != t.content}
            self._names_key = len(self)
        return self._names

    def _id_to_token(self, index: int) -> str | None:
        name = self._renamed_added().get(index)
        return self._tokenizer.id_to_token(index) if name is None else name

    def _convert_token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def _convert_id_to_token(self, index: int) -> str | None:
        return self._id_to_token(index)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._tokenizer.num_special_tokens_to_add(pair)

    # ---- encoding --------------------------------------------------------------------------------------------
    def _configure(self, truncation_strategy: str = "do_not_truncate", max_length: int | None = None,
                   stride: int = 0, padding_strategy: str = "do_not_pad", pad_to_multiple_of: int | None = None,
                   padding_side: str = "right") -> None:
        """Set the backend's truncation, padding and [CLS]/[SEP] template for the next call (when they change)."""
        if (self.cls_token, self.sep_token) != self._template_key:
            self._sync_template()
        truncation = None if truncation_strategy == "do_not_truncate" else {
            "max_length": max_length, "stride": stride, "strategy": truncation_strategy,
            "direction": self.truncation_side}
        padding = None if padding_strategy == "do_not_pad" else {
            "length": max_length if padding_strategy == "max_length" else None, "direction": padding_side,
            "pad_id": self.pad_token_id, "pad_token": self.pad_token, "pad_type_id": self.pad_token_type_id,
            "pad_to_multiple_of": pad_to_multiple_of}
        configure_backend(self._tokenizer, truncation, padding)

    def _sync_template(self) -> None:
        """Frame inputs with the current cls_token / sep_token (set after loading), as the slow tokenizer does."""
        self._template_key = (self.cls_token, self.sep_token)
        ids = [None if t is None else self._tokenizer.token_to_id(t) for t in self._template_key]
        if None not in ids:
            self._tokenizer.post_processor = bert_template(self.cls_token, ids[0], self.sep_token, ids[1])

    def _single_pair(self, text_pair: str | None) -> str | None:
        return text_pair if text_pair else None

    def _unbatch(self, data: dict[str, list], return_overflowing_tokens: bool) -> dict[str, Any]:
        if return_overflowing_tokens:
            return data
        return {k: v[0] if v and isinstance(v[0], list) else v for k, v in data.items()}

    def _encode_batch(self, pairs: list[tuple[Any, Any]], *, is_split_into_words: bool, add_special_tokens: bool,
                      padding_strategy: str, truncation_strategy: str, max_length: int | None, stride: int,
                      pad_to_multiple_of: int | None, padding_side: str, return_token_type_ids: bool | None,
                      return_attention_mask: bool, return_overflowing_tokens: bool, return_special_tokens_mask: bool,
                      return_offsets_mapping: bool, return_length: bool) -> tuple[dict[str, list], list, None]:
        self._configure(truncation_strategy, max_length, stride, padding_strategy, pad_to_multiple_of, padding_side)
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        inputs = [a if b is None else (a, b) for a, b in pairs]
        try:
            encodings = self._tokenizer.encode_batch(inputs, add_special_tokens=add_special_tokens,
                                                     is_pretokenized=is_split_into_words)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a bare Exception ("Truncation error: ..."), or a Rust panic (BaseException)
            hint = ""
            if "stride" in str(exc):
                hint = f" Use a stride smaller than max_length ({max_length}) minus the special tokens."
            elif "runcat" in str(exc):
                hint = (f" With truncation='{truncation_strategy}' and max_length={max_length}, the sequence to "
                        "truncate is too short to remove enough tokens; use truncation='longest_first' or a larger "
                        "max_length.")
            raise ValueError(f"BertTokenizerFast could not encode the input: {exc}.{hint}") from exc
        data: dict[str, list] = defaultdict(list)
        rows, mapping = [], []
        for index, encoding in enumerate(encodings):
            for e in [encoding, *encoding.overflowing] if return_overflowing_tokens else [encoding]:
                rows.append(e)
                mapping.append(index)
                data["input_ids"].append(e.ids)
                if return_token_type_ids:
                    data["token_type_ids"].append(e.type_ids)
                if return_attention_mask:
                    data["attention_mask"].append(e.attention_mask)
                if return_special_tokens_mask:
                    data["special_tokens_mask"].append(e.special_tokens_mask)
                if return_offsets_mapping:
                    data["offset_mapping"].append(e.offsets)
                if return_length:
                    data["length"].append(len(e.ids))
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = mapping
        return dict(data), rows, None

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False) -> list[str]:
        """The WordPiece tokens of ``text`` (and ``pair``), special tokens only if ``add_special_tokens``.

        Added tokens appear as stored (the backend's ``Encoding.tokens`` shows the matched text, which for a
        normalized or stripped token is not a vocabulary entry), so ``convert_tokens_to_ids`` gives the ids.
        """
        self._configure()
        return [self._id_to_token(i) for i in
                self._tokenizer.encode(text, pair, add_special_tokens=add_special_tokens).ids]

    # ---- decoding and files ----------------------------------------------------------------------------------
    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Join WordPiece tokens into text with the backend's decoder."""
        return self._tokenizer.decoder.decode(tokens) if self._tokenizer.decoder else " ".join(tokens)

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        renamed = self._renamed_added()
        if renamed.keys().isdisjoint(ids):
            return self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        # tokenizers 0.22's decode (unknown ids dropped, special tokens skipped by name), with the stored names
        specials = {t.content for t in self._tokenizer.get_added_tokens_decoder().values() if t.special}
        tokens = [t for t in map(self._id_to_token, ids) if t is not None
                  and not (skip_special_tokens and t in specials)]
        return self.convert_tokens_to_string(tokens)

    @classmethod
    def _from_folder(cls, folder: str, vocab_file: str | None, options: dict[str, Any]) -> BertTokenizerFast:
        tokenizer_file = os.path.join(folder, TOKENIZER_FILE)
        from_slow = options.pop("from_slow", False)  # build from vocab.txt even where tokenizer.json exists
        if os.path.isfile(tokenizer_file) and not from_slow:
            return cls(tokenizer_file=tokenizer_file, **options)
        if vocab_file is None:
            raise TokenizerFileError(f"Neither {TOKENIZER_FILE} nor {VOCAB_FILE} in '{folder}': nothing to build a "
                                     "BertTokenizerFast from. Pass the folder written by save_pretrained.")
        return cls(vocab_file, **options)

    def _write_files(self, folder: str, legacy_format: bool | None) -> None:
        if legacy_format is not True:
            copy = Tokenizer.from_str(self._tokenizer.to_str())
            copy.no_truncation()
            copy.no_padding()
            atomic_write_text(os.path.join(folder, TOKENIZER_FILE), copy.to_str(pretty=True))
        if legacy_format is not False:
            vocab = self._tokenizer.get_vocab(with_added_tokens=False)
            atomic_write_text(os.path.join(folder, VOCAB_FILE), vocab_lines(vocab))
