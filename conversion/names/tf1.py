"""The one table between the interchange schema and Google's original TF1 BERT checkpoint names.

Google's ``bert_model.ckpt`` (github.com/google-research/bert, ``modeling.py``, ``run_pretraining.py``,
``run_classifier.py``, ``run_squad.py``) names variables ``bert/embeddings/word_embeddings``,
``bert/encoder/layer_0/attention/self/query/kernel`` (Dense kernels ``[in, out]``), ``.../LayerNorm/gamma`` and
``beta``; the pre-training heads ``cls/predictions/...`` (``output_bias`` is the MLM decoder bias, the decoder weight
is tied to the word embeddings) and ``cls/seq_relationship/output_weights`` (stored ``[2, H]``, like the schema);
run_classifier's top-level ``output_weights`` ``[num_labels, H]`` / ``output_bias``; run_squad's
``cls/squad/output_weights`` ``[2, H]`` / ``output_bias`` (our ``qa_outputs``). Optimizer slots (``adam_m``,
``adam_v``) and counters (``global_step``) are skipped. Numpy only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

# (schema name, TF1 name, transposed). Names in the encoder layer use "{i}"; rank is checked on every tensor.
_EMBEDDINGS = (
    ("bert.embeddings.word_embeddings.weight", "bert/embeddings/word_embeddings", False),
    ("bert.embeddings.position_embeddings.weight", "bert/embeddings/position_embeddings", False),
    ("bert.embeddings.token_type_embeddings.weight", "bert/embeddings/token_type_embeddings", False),
    ("bert.embeddings.LayerNorm.weight", "bert/embeddings/LayerNorm/gamma", False),
    ("bert.embeddings.LayerNorm.bias", "bert/embeddings/LayerNorm/beta", False),
)
_LAYER = (
    ("attention.self.query.weight", "attention/self/query/kernel", True),
    ("attention.self.query.bias", "attention/self/query/bias", False),
    ("attention.self.key.weight", "attention/self/key/kernel", True),
    ("attention.self.key.bias", "attention/self/key/bias", False),
    ("attention.self.value.weight", "attention/self/value/kernel", True),
    ("attention.self.value.bias", "attention/self/value/bias", False),
    ("attention.output.dense.weight", "attention/output/dense/kernel", True),
    ("attention.output.dense.bias", "attention/output/dense/bias", False),
    ("attention.output.LayerNorm.weight", "attention/output/LayerNorm/gamma", False),
    ("attention.output.LayerNorm.bias", "attention/output/LayerNorm/beta", False),
    ("intermediate.dense.weight", "intermediate/dense/kernel", True),
    ("intermediate.dense.bias", "intermediate/dense/bias", False),
    ("output.dense.weight", "output/dense/kernel", True),
    ("output.dense.bias", "output/dense/bias", False),
    ("output.LayerNorm.weight", "output/LayerNorm/gamma", False),
    ("output.LayerNorm.bias", "output/LayerNorm/beta", False),
)
_TOP = (
    ("bert.pooler.dense.weight", "bert/pooler/dense/kernel", True),
    ("bert.pooler.dense.bias", "bert/pooler/dense/bias", False),
    ("cls.predictions.transform.dense.weight", "cls/predictions/transform/dense/kernel", True),
    ("cls.predictions.transform.dense.bias", "cls/predictions/transform/dense/bias", False),
    ("cls.predictions.transform.LayerNorm.weight", "cls/predictions/transform/LayerNorm/gamma", False),
    ("cls.predictions.transform.LayerNorm.bias", "cls/predictions/transform/LayerNorm/beta", False),
    ("cls.predictions.bias", "cls/predictions/output_bias", False),
    ("cls.seq_relationship.weight", "cls/seq_relationship/output_weights", False),  # [2, H] in both
    ("cls.seq_relationship.bias", "cls/seq_relationship/output_bias", False),
    ("classifier.weight", "output_weights", False),  # run_classifier: [num_labels, H] in both
    ("classifier.bias", "output_bias", False),
    ("qa_outputs.weight", "cls/squad/output_weights", False),  # run_squad: [2, H] in both
    ("qa_outputs.bias", "cls/squad/output_bias", False),
)
_TO_TF1 = {s: (t, tr) for s, t, tr in _EMBEDDINGS + _TOP}
_TO_SCHEMA = {t: (s, tr) for s, t, tr in _EMBEDDINGS + _TOP}
_LAYER_TO_TF1 = {s: (t, tr) for s, t, tr in _LAYER}
_LAYER_TO_SCHEMA = {t: (s, tr) for s, t, tr in _LAYER}
_SCHEMA_LAYER = re.compile(r"^bert\.encoder\.layer\.(\d+)\.(.+)$")
_TF1_LAYER = re.compile(r"^bert/encoder/layer_(\d+)/(.+)$")
# Variables training leaves in a checkpoint that are not weights.
_SKIP = re.compile(r"(^|/)(adam_m|adam_v|Adam|Adam_1|Momentum|global_step|bad_steps|good_steps|loss_scale)($|/)")
HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.")


def is_skipped(tf1_name: str) -> bool:
    """Optimizer slots and step counters: not weights, left out of the schema."""
    return bool(_SKIP.search(tf1_name))


def schema_name_to_tf1(name: str) -> tuple[str, bool]:
    """(TF1 name, transposed) of a schema name; base-model names (no ``bert.``) get the ``bert/`` scope.

    Raises KeyError for tensors Google's BERT has no variable for (an untied decoder weight, relative position
    or cross-attention weights).
    """
    if not name.startswith(("bert.", *HEAD_PREFIXES)):
        name = "bert." + name
    if name in _TO_TF1:
        return _TO_TF1[name]
    m = _SCHEMA_LAYER.match(name)
    if m and m.group(2) in _LAYER_TO_TF1:
        tf1, transposed = _LAYER_TO_TF1[m.group(2)]
        return f"bert/encoder/layer_{m.group(1)}/{tf1}", transposed
    raise KeyError(f"{name} has no variable in Google's TF1 BERT checkpoint layout")


def tf1_name_to_schema(name: str) -> tuple[str, bool]:
    """(schema name with ``bert.`` prefix, transposed) of a TF1 variable name; KeyError when unknown."""
    if name in _TO_SCHEMA:
        return _TO_SCHEMA[name]
    m = _TF1_LAYER.match(name)
    if m and m.group(2) in _LAYER_TO_SCHEMA:
        schema, transposed = _LAYER_TO_SCHEMA[m.group(2)]
        return f"bert.encoder.layer.{m.group(1)}.{schema}", transposed
    raise KeyError(f"{name} is not a variable of Google's TF1 BERT")


def _check(name: str, shape: tuple[int, ...], transposed: bool, hidden: int | None) -> None:
    """Shape asserts: kernels and embeddings 2-D, biases and LayerNorm 1-D; H where the layout fixes it."""
    leaf = name.rsplit("/", 1)[-1]
    want_ndim = 1 if leaf in ("bias", "gamma", "beta", "output_bias") else 2
    if len(shape) != want_ndim:
        raise ValueError(f"{name} has shape {list(shape)}; a {want_ndim}-D tensor was expected.")
    if hidden is None:
        return
    if leaf in ("gamma", "beta") or name.endswith(("embeddings", "output_weights")) and not leaf.endswith("bias"):
        size = shape[-1]
        if size != hidden:
            raise ValueError(f"{name} has shape {list(shape)}; its last dimension must be the hidden size {hidden}.")
    if transposed and ("attention/" in name or "pooler" in name or "transform/dense" in name) \
            and tuple(shape) != (hidden, hidden):
        raise ValueError(f"{name} has shape {list(shape)}; [{hidden}, {hidden}] was expected.")


def hidden_size(shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    """H, from the word embeddings [vocab, H] when present (TF1 or schema names)."""
    for key in ("bert/embeddings/word_embeddings", "bert.embeddings.word_embeddings.weight",
                "embeddings.word_embeddings.weight"):
        if key in shapes and len(shapes[key]) == 2:
            return int(shapes[key][1])
    return None


def plan_read(shapes: Mapping[str, tuple[int, ...]]) -> tuple[dict[str, tuple[str, bool]], dict[str, str]]:
    """For TF1 variables and their shapes: ({tf1 name: (schema name, transposed)}, {skipped tf1 name: reason}).

    Schema names drop the ``bert.`` prefix when the checkpoint has no head (a ``BertModel``). Raises ValueError
    when a weight has the wrong rank or size.
    """
    hidden = hidden_size(shapes)
    plan: dict[str, tuple[str, bool]] = {}
    skipped: dict[str, str] = {}
    for name in sorted(shapes):
        if is_skipped(name):
            skipped[name] = "optimizer state / step counter"
            continue
        try:
            schema, transposed = tf1_name_to_schema(name)
        except KeyError:
            skipped[name] = "not a variable of Google's BERT"
            continue
        _check(name, tuple(shapes[name]), transposed, hidden)
        plan[name] = (schema, transposed)
    if not any(s.startswith(HEAD_PREFIXES) for s, _ in plan.values()):
        plan = {k: (s[len("bert."):], t) for k, (s, t) in plan.items()}
    return plan, skipped


def schema_to_tf1(state_dict: Mapping[str, np.ndarray]) -> dict[str, tuple[str, bool]]:
    """{schema name: (TF1 name, transposed)} for every tensor, shapes checked; KeyError names unmappable ones."""
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    hidden = hidden_size(shapes)
    plan: dict[str, tuple[str, bool]] = {}
    missing = []
    for name, shape in shapes.items():
        try:
            tf1, transposed = schema_name_to_tf1(name)
        except KeyError:
            missing.append(name)
            continue
        _check(tf1, shape[::-1] if transposed else shape, transposed, hidden)
        plan[name] = (tf1, transposed)
    if missing:
        raise KeyError("Google's TF1 checkpoint layout has no variable for: " + ", ".join(sorted(missing)))
    return plan
