"""``BertConfig``'s field table, its named choices and the checks of every value (no framework, no I/O)."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

HIDDEN_ACTS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh", "quick_gelu")
POSITION_EMBEDDING_TYPES = ("absolute", "relative_key", "relative_key_query")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

# (name, default) in transformers' order; always written. Mutable defaults are copied per instance.
FIELDS: tuple[tuple[str, Any], ...] = (
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
FIELD_NAMES = frozenset(name for name, _ in FIELDS) | {"num_labels", "id2label", "label2id", "model_type"}

# transformers v4 PretrainedConfig attributes every config has, with their defaults. Readable on any BertConfig;
# written only once set (as transformers' to_diff_dict leaves defaults out).
COMMON_DEFAULTS: dict[str, Any] = {
    "torchscript": False, "is_encoder_decoder": False, "tie_encoder_decoder": False,
    "cross_attention_hidden_size": None, "finetuning_task": None, "tokenizer_class": None, "prefix": None,
    "sep_token_id": None, "decoder_start_token_id": None, "task_specific_params": None, "pruned_heads": MappingProxyType({}),
}

# transformers v4 loading keywords (``from_pretrained``): consumed, never written into a config.
LOADING_KEYWORDS = frozenset({
    "cache_dir", "force_download", "resume_download", "proxies", "local_files_only", "token", "use_auth_token",
    "revision", "subfolder", "mirror", "trust_remote_code", "from_pt", "from_tf", "from_flax", "low_cpu_mem_usage",
    "use_safetensors", "_do_init", "_fast_init", "variant", "offload_folder", "offload_state_dict", "max_memory",
    "_from_auto", "_from_pipeline", "_commit_hash", "code_revision", "weights_only", "adapter_kwargs",
    "key_mapping", "load_weight_prefix", "return_unused_kwargs"})

_POSITIVE_INTS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size")


class ConfigError(ValueError):
    """A config value is invalid; the message says which field and what is allowed."""


def _check_float(name: str, value: Any, allowed: str, ok) -> None:
    """Raise ConfigError unless ``value`` is a finite real number (not a bool) for which ``ok(value)`` holds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise ConfigError(f"{name} must be {allowed} (finite), got {value!r}.")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} {value!r} is unknown; choose one of {', '.join(choices)}.")


def check_num_labels(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"num_labels must be a positive integer, got {n!r}.")
    return n


def validate(config: Any) -> None:
    """Raise ConfigError naming the first field whose value cannot describe any BERT model."""
    for name in _POSITIVE_INTS:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    _check_choice("hidden_act", config.hidden_act, HIDDEN_ACTS)
    _check_choice("position_embedding_type", config.position_embedding_type, POSITION_EMBEDDING_TYPES)
    _check_choice("attn_implementation", config.attn_implementation, ATTN_IMPLEMENTATIONS)
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
        if name == "classifier_dropout" and config.classifier_dropout is None:
            continue
        _check_float(name, getattr(config, name), "a probability in [0, 1)", lambda v: 0 <= v < 1)
    _check_float("layer_norm_eps", config.layer_norm_eps, "a positive number", lambda v: v > 0)
    _check_float("initializer_range", config.initializer_range, "a number >= 0", lambda v: v >= 0)
    if config.problem_type is not None and config.problem_type not in PROBLEM_TYPES:
        raise ConfigError(f"problem_type {config.problem_type!r} is unknown; choose one of "
                          f"{', '.join(PROBLEM_TYPES)} or None.")
    if sorted(config.label2id.values()) != sorted(config.id2label):
        raise ConfigError("label2id and id2label disagree: label2id must map every label to its id in id2label.")


def validate_for_model(config: Any) -> None:
    """What only a model rejects (transformers accepts it in the config): hidden_size divisible by the heads."""
    validate(config)
    if config.hidden_size % config.num_attention_heads:
        raise ConfigError(
            f"hidden_size ({config.hidden_size}) must be divisible by num_attention_heads "
            f"({config.num_attention_heads}): each head gets hidden_size / num_attention_heads dimensions.")
