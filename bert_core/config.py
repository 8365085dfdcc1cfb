"""`BertConfig`: one framework-free description of a BERT model, behaving as transformers v4's ``BertConfig``.

Field names and defaults are those of transformers v4's ``BertConfig`` so that a ``config.json`` written by
transformers reads here, and one written here reads there. Any other key (given to the constructor, read from a
file, or set later as an attribute) becomes an attribute and is written back. Google's original
``bert_config.json`` (same keys, no ``model_type``) reads too. The field table and value checks live in
``bert_core.config_fields``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from typing import Any

from bert_core.config_fields import (ATTN_IMPLEMENTATIONS, COMMON_DEFAULTS, FIELD_NAMES, FIELDS, HIDDEN_ACTS,
                                     LOADING_KEYWORDS, POSITION_EMBEDDING_TYPES, PROBLEM_TYPES, ConfigError,
                                     check_num_labels, validate, validate_for_model)
from bert_core.files import atomic_write_text

__all__ = ["BertConfig", "ConfigError", "CONFIG_NAME", "GOOGLE_CONFIG_NAME", "HIDDEN_ACTS", "ATTN_IMPLEMENTATIONS",
           "POSITION_EMBEDDING_TYPES", "PROBLEM_TYPES", "LOADING_KEYWORDS"]

CONFIG_NAME = "config.json"
GOOGLE_CONFIG_NAME = "bert_config.json"
# Fields transformers' to_diff_dict leaves out when they hold PretrainedConfig's default.
_DIFF_DEFAULTS = {**COMMON_DEFAULTS, "return_dict": True, "output_hidden_states": False, "output_attentions": False,
                  "torch_dtype": None, "tie_word_embeddings": True, "chunk_size_feed_forward": 0, "is_decoder": False,
                  "add_cross_attention": False, "architectures": None, "problem_type": None, "bos_token_id": None,
                  "eos_token_id": None}


class BertConfig:
    """Configuration of a BERT model, with transformers v4's field names and defaults.

    Args:
        vocab_size: number of token ids the embedding table holds.
        hidden_size: width of every layer; divisible by ``num_attention_heads``.
        num_hidden_layers: number of Transformer layers.
        num_attention_heads: attention heads per layer.
        intermediate_size: width of the feed-forward layer.
        hidden_act: activation of the feed-forward layer, one of ``HIDDEN_ACTS``.
        hidden_dropout_prob / attention_probs_dropout_prob: dropout rates in [0, 1).
        max_position_embeddings: longest sequence the model accepts.
        type_vocab_size: number of token type (segment) ids.
        position_embedding_type: ``"absolute"``, ``"relative_key"`` or ``"relative_key_query"``.
        attn_implementation: ``"eager"`` or ``"sdpa"`` (PyTorch's fused kernel; other frameworks compute the same
            math their own way).
        num_labels / id2label / label2id: classification labels; give one of them.
        **kwargs: any other key (kept and written back unchanged).
    """

    model_type = "bert"
    # transformers v4 class attributes of a plain (not composite) config.
    sub_configs: dict[str, type] = {}
    is_composition = False
    has_no_defaults_at_init = False
    base_config_key = ""

    def __init__(self, **kwargs: Any) -> None:
        model_type = kwargs.pop("model_type", "bert")
        if model_type != "bert":
            raise ConfigError(f"This config describes a {model_type!r} model, not BERT (model_type must be 'bert'). "
                              "bertzoo runs BERT checkpoints only.")
        explicit_attn = "attn_implementation" in kwargs
        for name, default in FIELDS:
            setattr(self, name, kwargs.pop(name, copy.deepcopy(default)))
        # transformers >= 4.56 writes "dtype" for what older versions called "torch_dtype": one field here.
        dtype = kwargs.pop("dtype", None)
        if self.torch_dtype is None:
            self.torch_dtype = dtype
        legacy_attn = kwargs.pop("_attn_implementation", None)
        if legacy_attn is not None and not explicit_attn:
            self.attn_implementation = legacy_attn
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        if id2label is not None:
            id2label = {int(k): str(v) for k, v in dict(id2label).items()}
            if num_labels is not None and num_labels != len(id2label):
                raise ConfigError(
                    f"num_labels={num_labels} disagrees with id2label, which has {len(id2label)} entries; "
                    "give one of them, or make them agree.")
        else:
            n = check_num_labels(2 if num_labels is None else num_labels)
            id2label = {i: f"LABEL_{i}" for i in range(n)}
        self.id2label = id2label
        self.label2id = ({str(k): int(v) for k, v in dict(label2id).items()} if label2id is not None
                         else {v: k for k, v in id2label.items()})
        self.model_type = model_type
        for key, value in kwargs.items():  # any other key becomes an attribute, as in transformers
            target = getattr(type(self), key, None)
            if callable(target) or isinstance(target, property):
                raise ConfigError(f"Config key {key!r} names a BertConfig method or property and cannot be a "
                                  "value; rename or remove it.")
            setattr(self, key, value)
        self.validate()

    # -- labels and derived values --------------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n: int) -> None:
        """Setting a different number rebuilds ``id2label`` / ``label2id`` (``LABEL_0`` ...), as transformers."""
        if check_num_labels(n) != self.num_labels:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def dtype(self) -> Any:
        """transformers >= 4.56's name of ``torch_dtype`` (one field)."""
        return self.torch_dtype

    @dtype.setter
    def dtype(self, value: Any) -> None:
        self.torch_dtype = value

    @property
    def extra(self) -> dict[str, Any]:
        """The keys that are not BertConfig fields (custom keys, transformers' bookkeeping), as a new dict."""
        return {k: v for k, v in self.__dict__.items() if k not in FIELD_NAMES}

    def get_text_config(self, decoder: bool | None = None, encoder: bool | None = None) -> "BertConfig":
        """transformers' accessor for a composite config's text part: BERT is text only, so ``self``."""
        return self

    # -- validation -----------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ConfigError naming the first field whose value cannot describe any BERT model."""
        validate(self)

    def validate_for_model(self) -> None:
        """``validate`` plus what only a model rejects (transformers' configs accept it): ``hidden_size``
        divisible by ``num_attention_heads``. Every framework's model constructor calls this."""
        validate_for_model(self)

    # -- serialisation --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field and every other attribute, with id2label keys as strings as transformers writes them."""
        out = {k: copy.deepcopy(v) for k, v in self.__dict__.items()}
        if self.torch_dtype is not None:
            dtype = self.torch_dtype if isinstance(self.torch_dtype, str) else str(self.torch_dtype)
            out["torch_dtype"] = out["dtype"] = dtype.removeprefix("torch.")  # both names: >= 4.56 reads "dtype"
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["label2id"] = dict(self.label2id)
        return dict(sorted(out.items()))

    def to_diff_dict(self) -> dict[str, Any]:
        """``to_dict`` less the common transformers attributes that hold their default (as transformers)."""
        return {k: v for k, v in self.to_dict().items() if not (k in _DIFF_DEFAULTS and v == _DIFF_DEFAULTS[k])}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> "BertConfig":
        """Build a config from ``data``; ``overrides`` win. ``num_labels=N`` alone resets the label names."""
        data = dict(data)
        if "num_labels" in overrides and "id2label" not in overrides:
            data.pop("id2label", None)
            data.pop("label2id", None)
        return cls(**{**data, **overrides})

    def to_json_string(self, use_diff: bool = True) -> str:
        """JSON of ``to_diff_dict`` (``use_diff=True``, transformers' default) or ``to_dict``."""
        data = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = True) -> None:
        """Write ``to_json_string(use_diff)`` to a file, atomically."""
        atomic_write_text(os.fspath(json_file_path), self.to_json_string(use_diff))

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "BertConfig":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); save the config as "
                              "UTF-8 JSON.") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON ({e}); the file is truncated or was not written as "
                              "JSON: restore it from the original checkpoint.") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object, found {type(data).__name__}.")
        return cls.from_dict(data)

    def is_known(self, name: str) -> bool:
        """True for a field, an attribute this config holds, or a common transformers attribute."""
        return name in FIELD_NAMES or name == "dtype" or name in self.__dict__ or name in COMMON_DEFAULTS

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, subfolder: str | None = None,
                        return_unused_kwargs: bool = False, **kwargs: Any):
        """Read ``config.json`` (or Google's ``bert_config.json``) from a folder (``subfolder`` of it), or a JSON
        file. ``kwargs`` that name config attributes override them; transformers' loading keywords are consumed;
        any other keyword is returned with ``return_unused_kwargs=True`` (``(config, unused)``), else ignored."""
        path = os.fspath(path)
        if subfolder:
            path = os.path.join(path, subfolder)
        if os.path.isdir(path):
            for name in (CONFIG_NAME, GOOGLE_CONFIG_NAME):
                if os.path.isfile(os.path.join(path, name)):
                    path = os.path.join(path, name)
                    break
            else:
                raise FileNotFoundError(f"No {CONFIG_NAME} or {GOOGLE_CONFIG_NAME} in {path}.")
        elif not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is neither a folder nor a config file.")
        config = cls.from_json_file(path)
        kwargs = {k: v for k, v in kwargs.items() if k not in LOADING_KEYWORDS}
        overrides = {k: v for k, v in kwargs.items() if config.is_known(k)}
        unused = {k: v for k, v in kwargs.items() if k not in overrides}
        if overrides:
            config = cls.from_dict(config.to_dict(), **overrides)
        return (config, unused) if return_unused_kwargs else config

    def save_pretrained(self, folder: str | os.PathLike) -> str:
        """Write ``config.json`` (every field) into ``folder`` (created if needed), atomically. Returns its path."""
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, CONFIG_NAME)
        self.to_json_file(path, use_diff=False)
        return path

    # -- conveniences ---------------------------------------------------------------------------------------
    def update(self, config_dict: dict[str, Any]) -> None:
        """Set every key of ``config_dict`` as an attribute (as transformers; no re-validation)."""
        for key, value in config_dict.items():
            setattr(self, key, value)

    def copy(self, **overrides: Any) -> "BertConfig":
        return self.from_dict(self.to_dict(), **overrides)

    def __iter__(self) -> Iterator[str]:
        yield from self.__dict__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "position_embedding_type", "attn_implementation")
        body = ", ".join(f"{k}={getattr(self, k)!r}" for k in keys)
        if self.is_decoder:
            body += ", is_decoder=True"
        if self.num_labels != 2:
            body += f", num_labels={self.num_labels}"
        return f"BertConfig({body})"


for _name, _default in COMMON_DEFAULTS.items():  # readable defaults; written once set on an instance
    setattr(BertConfig, _name, _default)
