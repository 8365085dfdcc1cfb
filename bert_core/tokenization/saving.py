"""Loading and saving tokenizers in transformers' folder layout, and the tokenizer ``repr``.

``PretrainedFilesMixin`` gives ``from_pretrained`` / ``save_pretrained`` to ``TokenizerBase``; a concrete tokenizer
supplies ``_from_folder`` (build itself from a folder) and ``_write_files`` (its vocabulary files).
"""

from __future__ import annotations

import os
from typing import Any

from bert_core.files import atomic_folder, atomic_write_text
from bert_core.tokenization.files import (ADDED_TOKENS_FILE, SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE,
                                          VOCAB_FILE, read_tokenizer_folder, resolve_folder, to_json, vocab_lines)
from bert_core.tokenization.files import check_vocab_size as _check_vocab_size
from bert_core.tokenization.padding import VERY_LARGE_INTEGER
from bert_core.tokenization.added import token_entry

__all__ = ["PretrainedFilesMixin"]


class PretrainedFilesMixin:
    """``from_pretrained`` / ``save_pretrained`` in transformers' layout (vocab.txt and/or tokenizer.json,
    tokenizer_config.json, special_tokens_map.json), and the ``repr`` of a tokenizer."""

    # ---- files -----------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, check_vocab_size: bool = True, **kwargs: Any):
        """Load from a folder holding vocab.txt and/or tokenizer.json, tokenizer_config.json and
        special_tokens_map.json (transformers' layout). ``kwargs`` override the stored options.

        If the folder also holds a model ``config.json``, its ``vocab_size`` must equal the vocabulary's size.
        """
        folder, vocab_file = resolve_folder(path)
        options = read_tokenizer_folder(folder)
        options.update(kwargs)
        options["name_or_path"] = kwargs.get("name_or_path", os.fspath(path))
        tokenizer = cls._from_folder(folder, vocab_file, options)
        if check_vocab_size:
            _check_vocab_size(folder, tokenizer.vocab_size, os.fspath(path))
        return tokenizer

    @classmethod
    def _from_folder(cls, folder: str, vocab_file: str | None, options: dict[str, Any]):
        raise NotImplementedError

    def _added_tokens_config(self) -> dict[str, dict[str, Any]]:
        """The ``added_tokens_decoder`` entry of tokenizer_config.json: every added token by id."""
        return {str(index): token_entry(token) for index, token in self.added_tokens_decoder.items()}

    def _init_options(self) -> dict[str, Any]:
        """The BERT options written to tokenizer_config.json (both tokenizers expose them as properties)."""
        return {"do_basic_tokenize": self.do_basic_tokenize, "do_lower_case": self.do_lower_case,
                "never_split": self.never_split, "strip_accents": self.strip_accents,
                "tokenize_chinese_chars": self.tokenize_chinese_chars}

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        """Write only the vocabulary (``[prefix-]vocab.txt``, no added or special tokens) into an existing
        folder; returns its path (transformers v4's ``save_vocabulary``)."""
        if not os.path.isdir(save_directory):
            raise ValueError(f"save_vocabulary writes into an existing folder; '{save_directory}' is not one.")
        path = os.path.join(os.fspath(save_directory), (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE)
        vocab = self.get_vocab()
        atomic_write_text(path, vocab_lines({t: i for t, i in vocab.items() if i < self.vocab_size}))
        return (path,)

    def _write_files(self, folder: str, legacy_format: bool | None) -> None:
        """Write the vocabulary files (vocab.txt and / or tokenizer.json) into ``folder``."""
        raise NotImplementedError

    def _config(self) -> dict[str, Any]:
        """What tokenizer_config.json holds (transformers' keys)."""
        config: dict[str, Any] = {
            "added_tokens_decoder": self._added_tokens_config(),
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces, "extra_special_tokens": {},
            "model_max_length": self.model_max_length, "tokenizer_class": "BertTokenizer"}
        if self.padding_side != "right":
            config["padding_side"] = self.padding_side
        if self.truncation_side != "right":
            config["truncation_side"] = self.truncation_side
        if self.split_special_tokens:
            config["split_special_tokens"] = True
        config.update(self.special_tokens_map)
        config.update(self._init_options())
        return config

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """The options that rebuild this tokenizer (what tokenizer_config.json stores), as a fresh dict."""
        return self._config()

    def save_pretrained(self, folder: str | os.PathLike, legacy_format: bool | None = None) -> list[str]:
        """Write the tokenizer in transformers' layout, atomically; returns the paths written.

        ``legacy_format``: None writes every file this tokenizer can (vocab.txt, added_tokens.json, and
        tokenizer.json for the fast one); True only the legacy ones (vocab.txt, added_tokens.json); False only
        tokenizer.json (fast tokenizer only). tokenizer_config.json and special_tokens_map.json are always written.
        """
        if legacy_format is False and not self.is_fast:
            raise ValueError("Only BertTokenizerFast can be saved in the non-legacy format (tokenizer.json); "
                             "use legacy_format=None or True, or convert with BertTokenizerFast.from_slow().")
        with atomic_folder(folder) as tmp:
            atomic_write_text(os.path.join(tmp, TOKENIZER_CONFIG_FILE), to_json(self._config()))
            atomic_write_text(os.path.join(tmp, SPECIAL_TOKENS_MAP_FILE), to_json(self.special_tokens_map))
            added = {t.content: i for i, t in self.added_tokens_decoder.items() if i >= self.vocab_size}
            if added and legacy_format is not False:
                atomic_write_text(os.path.join(tmp, ADDED_TOKENS_FILE), to_json(added))
            self._write_files(tmp, legacy_format)
            names = sorted(os.listdir(tmp))
        return [os.path.join(os.fspath(folder), name) for name in names]

    def __repr__(self) -> str:
        max_len = "none" if self.model_max_length >= VERY_LARGE_INTEGER else self.model_max_length
        specials = ", ".join(f"{k}={v!r}" for k, v in self.special_tokens_map.items())
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_length={max_len}, {self._repr_options()}padding_side={self.padding_side!r}, "
                f"truncation_side={self.truncation_side!r}, {specials})")

    def _repr_options(self) -> str:
        return "".join(f"{k}={v!r}, " for k, v in self._init_options().items())

