"""The ``tokenizers`` backend of ``BertTokenizerFast``: building it from a vocabulary as transformers' converter
does, reading a ``tokenizer.json``, and applying the BERT options to a normalizer read from a file."""

from __future__ import annotations

import json
import os
from typing import Any

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from bert_core.tokenization.files import TokenizerFileError, check_vocab_specials

__all__ = ["bert_template", "build_backend", "configure_backend", "read_tokenizer_file", "sync_normalizer"]


def build_backend(vocab: dict[str, int], unk_token: str, cls_token: str, sep_token: str, do_lower_case: bool,
                  tokenize_chinese_chars: bool, strip_accents: bool | None, clean_text: bool = True,
                  wordpieces_prefix: str = "##", source: str = "passed as vocab=") -> Tokenizer:
    """The ``tokenizers.Tokenizer`` transformers builds for BERT from a vocabulary (its ``BertConverter``)."""
    check_vocab_specials(vocab, source, unk_token=unk_token, cls_token=cls_token, sep_token=sep_token)
    backend = Tokenizer(WordPiece(vocab, unk_token=unk_token, continuing_subword_prefix=wordpieces_prefix))
    backend.normalizer = normalizers.BertNormalizer(clean_text=clean_text, handle_chinese_chars=tokenize_chinese_chars,
                                                    strip_accents=strip_accents, lowercase=do_lower_case)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = bert_template(cls_token, vocab[cls_token], sep_token, vocab[sep_token])
    backend.decoder = decoders.WordPiece(prefix=wordpieces_prefix)
    return backend


def bert_template(cls_token: str, cls_id: int, sep_token: str, sep_id: int) -> processors.TemplateProcessing:
    """BERT's post-processor: ``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]`` (type ids 0 then 1)."""
    return processors.TemplateProcessing(
        single=f"{cls_token}:0 $A:0 {sep_token}:0", pair=f"{cls_token}:0 $A:0 {sep_token}:0 $B:1 {sep_token}:1",
        special_tokens=[(cls_token, cls_id), (sep_token, sep_id)])


def configure_backend(backend: Tokenizer, truncation: dict[str, Any] | None, padding: dict[str, Any] | None) -> None:
    """Set (or turn off, with None) the backend's truncation and padding, touching it only when they change."""
    if truncation is None:
        if backend.truncation is not None:
            backend.no_truncation()
    else:
        current = backend.truncation
        if current is None or any(current.get(k) != v for k, v in truncation.items()):
            try:
                backend.enable_truncation(**truncation)
            except Exception as exc:
                raise ValueError(f"Invalid truncation settings {truncation}: {exc}") from exc
    if padding is None:
        if backend.padding is not None:
            backend.no_padding()
    elif backend.padding != padding:
        backend.enable_padding(**padding)


def read_tokenizer_file(path: str) -> Tokenizer:
    """The backend stored in a tokenizer.json; a clear error if it is missing or unreadable."""
    if not os.path.isfile(path):
        raise TokenizerFileError(f"No tokenizer file at '{path}'.")
    try:
        return Tokenizer.from_file(path)
    except Exception as exc:  # the backend raises a bare Exception on malformed JSON
        raise TokenizerFileError(f"Could not read '{path}' as a tokenizers JSON file ({exc}); it is truncated, "
                                 "corrupt or from an incompatible tokenizers version.") from exc


def sync_normalizer(backend: Tokenizer, do_lower_case: bool, tokenize_chinese_chars: bool,
                    strip_accents: bool | None) -> None:
    """Apply the options to a BertNormalizer read from a file, as transformers' BertTokenizerFast does."""
    if backend.normalizer is None:
        return
    state = json.loads(backend.normalizer.__getstate__())
    if state.get("type") != 'BertNormalizer':
        return
    wanted = {"lowercase": do_lower_case, "strip_accents": strip_accents,
              "handle_chinese_chars": tokenize_chinese_chars}
    if any(state.get(k, v) != v for k, v in wanted.items()):
        state.pop("type")
        state.update(wanted)
        backend.normalizer = normalizers.BertNormalizer(**state)
