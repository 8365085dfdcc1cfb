"""`BertConfig`: one framework-free description of a BERT model.

Field names and defaults are those of transformers v4's ``BertConfig`` so that a ``config.json`` written by
transformers reads here, and one written here reads there. Keys we do not use are kept verbatim and written back.
Google's original ``bert_config.json`` (same keys, no ``model_type``) reads too.
"""

from __future__ import annotations

import copy
import json
import math
import os
from typing import Any

from bert_core.files import atomic_write_text

CONFIG_NAME = "config.json"
GOOGLE_CONFIG_NAME = "bert_config.json"

HIDDEN_ACTS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh", "quick_gelu")
POSITION_EMBEDDING_TYPES = ("absolute", "relative_key", "relative_key_query")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

# (name, default) in transformers' order. Mutable defaults are built per instance.
_FIELDS: tuple[tuple[str, Any], ...] = (
    ("vocab_size", 30522),
    ("hidden_size", 768),
    ("num_hidden_layers", 12),
    ("num_attention_heads", 12),
    ("intermediate_size", 3072),
    ("hidden_act", "gelu"),
    ("hidden_dropout_prob", 0.1),
    ("attention_probs_dropout_prob", 0.1),
    ("max_position_embeddings", 512),
    ("type_vocab_size", 2),
    ("initializer_range", 0.02),
    ("layer_norm_eps", 1e-12),
    ("pad_token_id", 0),
    ("bos_token_id", None),
    ("eos_token_id", None),
    ("position_embedding_type", "absolute"),
    ("use_cache", True),
    ("classifier_dropout", None),
    ("is_decoder", False),
    ("add_cross_attention", False),
    ("tie_word_embeddings", True),
    ("problem_type", None),
    ("architectures", None),
    ("torch_dtype", None),
    ("chunk_size_feed_forward", 0),
    ("output_attentions", False),
    ("output_hidden_states", False),
    ("return_dict", True),
    ("attn_implementation", "eager"),
)
_FIELD_NAMES = frozenset(name for name, _ in _FIELDS) | {"num_labels", "id2label", "label2id"}
# Keys transformers writes on its own that carry no meaning for a model; kept when read, never required.
_POSITIVE_INTS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size")


class ConfigError(ValueError):
    """A config value is invalid; the message says which field and what is allowed."""


def _check_float(name: str, value: Any, allowed: str, ok) -> None:
    """Raise ConfigError unless ``value`` is a finite real number (not a bool) for which ``ok(value)`` holds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise ConfigError(f"{name} must be {allowed} (finite), got {value!r}.")


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

    def __init__(self, **kwargs: Any) -> None:
        model_type = kwargs.get("model_type", "bert")
        if model_type != "bert":
            raise ConfigError(f"This config describes a {model_type!r} model, not BERT (model_type must be 'bert'). "
                              "bertzoo runs BERT checkpoints only.")
        explicit_attn = "attn_implementation" in kwargs
        for name, default in _FIELDS:
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
            n = 2 if num_labels is None else num_labels
            if not isinstance(n, int) or n < 1:
                raise ConfigError(f"num_labels must be a positive integer, got {n!r}.")
            id2label = {i: f"LABEL_{i}" for i in range(n)}
        self.id2label = id2label
        self.label2id = ({str(k): int(v) for k, v in dict(label2id).items()} if label2id is not None
                         else {v: k for k, v in id2label.items()})
        self.model_type = kwargs.pop("model_type", "bert")
        self.extra: dict[str, Any] = kwargs  # unknown keys, kept for the round trip
        self.validate()

    # -- labels ---------------------------------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n: int) -> None:
        if n != self.num_labels:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # -- validation -----------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ConfigError naming the first field whose value cannot describe a working model."""
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}).")
        if self.hidden_act not in HIDDEN_ACTS:
            raise ConfigError(f"hidden_act {self.hidden_act!r} is unknown; choose one of {', '.join(HIDDEN_ACTS)}.")
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ConfigError(f"position_embedding_type {self.position_embedding_type!r} is unknown; choose one of "
                              f"{', '.join(POSITION_EMBEDDING_TYPES)}.")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ConfigError(f"attn_implementation {self.attn_implementation!r} is unknown; choose one of "
                              f"{', '.join(ATTN_IMPLEMENTATIONS)}.")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            if name == "classifier_dropout" and self.classifier_dropout is None:
                continue
            _check_float(name, getattr(self, name), "a probability in [0, 1)", lambda v: 0 <= v < 1)
        _check_float("layer_norm_eps", self.layer_norm_eps, "a positive number", lambda v: v > 0)
        _check_float("initializer_range", self.initializer_range, "a number >= 0", lambda v: v >= 0)
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ConfigError(f"problem_type {self.problem_type!r} is unknown; choose one of "
                              f"{', '.join(PROBLEM_TYPES)} or None.")
        if sorted(self.label2id.values()) != sorted(self.id2label):
            raise ConfigError("label2id and id2label disagree: label2id must map every label to its id in id2label.")

    # -- serialisation --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field (and every unknown key read in), with id2label keys as strings as transformers writes."""
        out: dict[str, Any] = dict(self.extra)
        for name, _ in _FIELDS:
            out[name] = copy.deepcopy(getattr(self, name))
        if self.torch_dtype is not None:
            out["dtype"] = self.torch_dtype  # both names, equal: transformers >= 4.56 reads "dtype"
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["label2id"] = dict(self.label2id)
        out["model_type"] = self.model_type
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> "BertConfig":
        """Build a config from ``data``; ``overrides`` win. ``num_labels=N`` alone resets the label names."""
        data = dict(data)
        if "num_labels" in overrides and "id2label" not in overrides:
            data.pop("id2label", None)
            data.pop("label2id", None)
        return cls(**{**data, **overrides})

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

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

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> "BertConfig":
        """Read ``config.json`` (or Google's ``bert_config.json``) from a folder, or a JSON file path."""
        path = os.fspath(path)
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
        return cls.from_dict(config.to_dict(), **overrides) if overrides else config

    def save_pretrained(self, folder: str | os.PathLike) -> str:
        """Write ``config.json`` into ``folder`` (created if needed), atomically. Returns the file's path."""
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, CONFIG_NAME)
        atomic_write_text(path, self.to_json_string())
        return path

    # -- conveniences ---------------------------------------------------------------------------------------
    def copy(self, **overrides: Any) -> "BertConfig":
        return self.from_dict(self.to_dict(), **overrides)

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
