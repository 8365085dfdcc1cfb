"""Tokenizer files in transformers' layout: ``vocab.txt``, ``tokenizer.json``, ``tokenizer_config.json``,
``special_tokens_map.json``, ``added_tokens.json``. Reading checks what can be checked (a missing vocabulary, a vocabulary whose size
disagrees with ``config.json``); writing is atomic through ``bert_core.files``.
"""

from __future__ import annotations

import json
import os
from typing import Any

VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
MODEL_CONFIG_FILE = "config.json"


class TokenizerFileError(ValueError):
    """A tokenizer folder or file is missing, unreadable or inconsistent; the message says what to do."""


def load_vocab(path: str | os.PathLike) -> dict[str, int]:
    """Read a WordPiece ``vocab.txt`` (one token a line, the line number is the id) into ``{token: id}``.

    As in transformers, a token listed twice keeps its last id.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TokenizerFileError(f"No vocabulary file at '{path}'. A BERT tokenizer needs a vocab.txt (one token "
                                 "a line); pass the folder that holds it or the file itself.")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError as exc:
        raise TokenizerFileError(f"'{path}' is not UTF-8 text ({exc}); is it really a vocab.txt?") from exc
    if lines and lines[-1] == "":
        lines.pop()
    vocab = {line.rstrip("\n"): index for index, line in enumerate(lines)}
    if not vocab:
        raise TokenizerFileError(f"The vocabulary file '{path}' is empty.")
    return vocab


def check_vocab_specials(vocab: dict[str, int], source: str, **tokens: str | None) -> None:
    """Raise if a special token BERT cannot do without (``unk_token``, ``cls_token``, ``sep_token``) is missing.

    Without them an unknown word has no id and every input starts / ends with the wrong token; both tokenizers
    refuse such a vocabulary at load, and a None for one of them (``tokens`` maps each role to its token).
    """
    missing = [f"{name}={None if token is None else str(token)!r}" for name, token in tokens.items()
               if token is None or str(token) not in vocab]
    if missing:
        raise TokenizerFileError(
            f"The vocabulary {source} lacks the special token(s) {', '.join(missing)}: BERT maps unknown words to "
            "unk_token and frames every input with cls_token ... sep_token. Add the token(s) to the vocabulary, or "
            "pass the ones it uses (e.g. unk_token='<unk>').")


def vocab_lines(vocab: dict[str, int]) -> str:
    """The text of a ``vocab.txt`` for ``vocab`` (tokens sorted by id, one a line)."""
    return "".join(token + "\n" for token, _ in sorted(vocab.items(), key=lambda kv: kv[1]))


def read_json(path: str) -> dict[str, Any] | None:
    """The object in a JSON file, None if the file does not exist; a clear error if it is not valid JSON."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TokenizerFileError(f"'{path}' is not valid JSON ({exc}); the file is truncated or corrupt.") from exc
    if not isinstance(data, dict):
        raise TokenizerFileError(f"'{path}' should hold a JSON object, found {type(data).__name__}.")
    return data


def to_json(data: dict[str, Any]) -> str:
    """JSON text as transformers writes its tokenizer files (2-space indent, sorted keys, UTF-8 kept)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def resolve_folder(path: str | os.PathLike) -> tuple[str, str | None]:
    """Split ``path`` into (folder, vocab file or None): a folder gives its vocab.txt if present, a file itself."""
    path = os.fspath(path)
    if os.path.isdir(path):
        vocab = os.path.join(path, VOCAB_FILE)
        return path, vocab if os.path.isfile(vocab) else None
    if os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path)), path
    raise TokenizerFileError(f"'{path}' is neither a folder nor a file. Pass a folder written by save_pretrained "
                             "(or by transformers) holding vocab.txt and/or tokenizer.json.")


def read_tokenizer_folder(folder: str) -> dict[str, Any]:
    """The options stored in ``folder``: tokenizer_config.json overlaid with special_tokens_map.json.

    Special-token values written as ``{"content": ...}`` objects are reduced to their string. Keys that only
    describe transformers' bookkeeping (``added_tokens_decoder``, ``tokenizer_class``, ...) are kept under
    ``"_extra"`` so they can be written back.
    """
    config = read_json(os.path.join(folder, TOKENIZER_CONFIG_FILE)) or {}
    special = read_json(os.path.join(folder, SPECIAL_TOKENS_MAP_FILE)) or {}
    merged = dict(config)
    for key, value in special.items():
        merged.setdefault(key, value)
    for key, value in list(merged.items()):
        if key.endswith("_token") and isinstance(value, dict):
            merged[key] = value.get("content")
    if isinstance(merged.get("additional_special_tokens"), list):
        merged["additional_special_tokens"] = [t.get("content") if isinstance(t, dict) else t
                                               for t in merged["additional_special_tokens"]]
    legacy = read_json(os.path.join(folder, ADDED_TOKENS_FILE)) or {}
    if legacy:  # {token: id} of transformers' legacy format: ordinary tokens unless declared special
        decoder = dict(merged.get("added_tokens_decoder") or {})
        specials = {v for k, v in merged.items() if k.endswith("_token") and isinstance(v, str)}
        specials |= set(merged.get("additional_special_tokens") or [])
        for token, index in legacy.items():
            if not isinstance(index, int):
                raise TokenizerFileError(f"'{os.path.join(folder, ADDED_TOKENS_FILE)}' should map tokens to int "
                                         f"ids, found {token!r}: {index!r}.")
            special = token in specials
            decoder.setdefault(str(index), {"content": token, "lstrip": False, "normalized": not special,
                                            "rstrip": False, "single_word": False, "special": special})
        merged["added_tokens_decoder"] = decoder
    return merged


def check_vocab_size(folder: str, vocab_size: int, source: str) -> None:
    """Raise if ``folder/config.json`` exists and its ``vocab_size`` differs from the tokenizer's."""
    config = read_json(os.path.join(folder, MODEL_CONFIG_FILE))
    if config is None or "vocab_size" not in config:
        return
    expected = config["vocab_size"]
    if expected != vocab_size:
        raise TokenizerFileError(
            f"The tokenizer vocabulary in '{source}' has {vocab_size} tokens but "
            f"'{os.path.join(folder, MODEL_CONFIG_FILE)}' says vocab_size={expected}: the tokenizer does not belong "
            "to this model (or one of the files is truncated). Use the model's own vocab.txt, or pass "
            "check_vocab_size=False if the model's embedding table is deliberately larger."
        )
