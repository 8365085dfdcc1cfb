"""transformers v4's Auto classes for BERT: ``AutoConfig``, ``AutoTokenizer`` and the ``[TF|Flax]AutoModel*`` family.

``AutoModelForMaskedLM.from_pretrained(path)`` ports unchanged: each Auto class stands for one row of the head
table (its ``auto_name`` column) and builds that head of the framework it comes from
(``bert_torch.auto``, ``bert_tf.auto``, ``bert_flax.auto`` call ``auto_model_classes`` with their
``MODEL_CLASSES``). BERT only: a config of another model type is a clear error.

Example:
    >>> from bert_core.auto import AutoConfig
    >>> AutoConfig.for_model("bert", hidden_size=64, num_attention_heads=4).hidden_size
    64
"""

from __future__ import annotations

import json
import os
from typing import Any

from bert_core.config import BertConfig
from bert_core.heads import HEAD_TABLE


def _not_direct(cls: type) -> None:
    raise EnvironmentError(f"{cls.__name__} is designed to be instantiated with {cls.__name__}.from_pretrained(path) "
                           f"or {cls.__name__}.from_config(config).")


def _require_bert(model_type: Any, where: str) -> None:
    if model_type not in (None, "bert"):
        raise ValueError(f"{where} is a {model_type!r} model; bertzoo's Auto classes load BERT only "
                         "(model_type 'bert').")


class AutoConfig:
    """``AutoConfig.from_pretrained(path)`` -> ``BertConfig`` (a non-BERT ``model_type`` is an error)."""

    def __init__(self) -> None:
        _not_direct(type(self))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs: Any) -> BertConfig:
        return BertConfig.from_pretrained(path, **kwargs)

    @classmethod
    def for_model(cls, model_type: str, **kwargs: Any) -> BertConfig:
        _require_bert(model_type, "the requested config")
        return BertConfig(**kwargs)


class AutoTokenizer:
    """``AutoTokenizer.from_pretrained(path, use_fast=True)`` -> ``BertTokenizerFast`` (``BertTokenizer`` with
    ``use_fast=False`` or without the ``tokenizers`` package). A ``tokenizer_config.json`` naming a tokenizer
    class other than BERT's is an error."""

    def __init__(self) -> None:
        _not_direct(type(self))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *args: Any, use_fast: bool = True, **kwargs: Any):
        folder = os.fspath(path)
        if os.path.isdir(folder):
            _check_tokenizer_class(folder)
        if use_fast:
            try:
                from bert_core import BertTokenizerFast

                return BertTokenizerFast.from_pretrained(path, *args, **kwargs)
            except ImportError:
                pass
        from bert_core import BertTokenizer

        return BertTokenizer.from_pretrained(path, *args, **kwargs)


def _check_tokenizer_class(folder: str) -> None:
    for name, key in (("tokenizer_config.json", "tokenizer_class"), ("config.json", "model_type")):
        file = os.path.join(folder, name)
        if not os.path.isfile(file):
            continue
        try:
            with open(file, encoding="utf-8") as f:
                value = json.load(f).get(key)
        except (OSError, ValueError, AttributeError):
            continue  # the tokenizer's own loader reports unreadable files, naming them
        if key == "tokenizer_class" and value and not str(value).removesuffix("Fast").endswith("BertTokenizer"):
            raise ValueError(f"{file} names tokenizer_class {value!r}; bertzoo's AutoTokenizer loads BERT's "
                             "WordPiece tokenizer only.")
        if key == "model_type":
            _require_bert(value, file)


def auto_model_classes(model_classes: dict[str, type], prefix: str = "",
                       module: str | None = None) -> dict[str, type]:
    """``{"AutoModel": ..., "AutoModelForMaskedLM": ...}`` (names with ``prefix``: ``"TF"``, ``"Flax"``) for a
    framework whose ``model_classes`` maps PyTorch head names to its classes."""
    out: dict[str, type] = {}
    for row in HEAD_TABLE:
        target = model_classes[row.name]
        name = prefix + row.auto_name

        def from_pretrained(cls, path: str | os.PathLike, *model_args: Any, **kwargs: Any):
            return cls._model_class.from_pretrained(path, *model_args, **kwargs)

        def from_config(cls, config: BertConfig, **kwargs: Any):
            _require_bert(getattr(config, "model_type", "bert"), "the config")
            model_class = cls._model_class
            return model_class._from_config(config, **kwargs) if hasattr(model_class, "_from_config") \
                else model_class(config, **kwargs)

        out[name] = type(name, (), {
            "__module__": module or __name__,
            "__doc__": f"transformers' {name}: ``{name}.from_pretrained(path)`` builds {target.__name__}.",
            "__init__": lambda self: _not_direct(type(self)),
            "_model_class": target,
            "from_pretrained": classmethod(from_pretrained),
            "from_config": classmethod(from_config),
        })
    return out
