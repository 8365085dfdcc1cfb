"""The one table between the interchange schema and transformers' TensorFlow weight names.

Schema names are HF PyTorch state_dict names (``bert.encoder.layer.0.attention.self.query.weight``, Linear weights
``[out, in]``); TF names are those transformers v4's ``TFBert*`` classes give their weights, without the model
name and ``:0`` (``bert/encoder/layer_._0/attention/self/query/kernel``, Dense kernels ``[in, out]``).
``conversion/formats/tf_h5.py`` uses this table for ``tf_model.h5`` files and ``bert_tf`` for its Keras variables,
so there is no other converter. Numpy only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from conversion.formats import common
from conversion.heads import infer_head
from conversion.schema import TensorSpec

# Module names whose "weight" is an embedding table stored as ".../<module>/embeddings" in TF.
_KERAS_EMBEDDINGS = ("position_embeddings", "token_type_embeddings", "distance_embedding")
# Module names whose "weight" is a raw matrix kept as ".../<module>/weight" (not transposed).
_RAW_WEIGHTS = ("word_embeddings", "decoder")
# Top-level schema module -> transformers' TF layer name.
_TOP_LEVEL = {"cls.predictions": "mlm___cls/predictions", "cls.seq_relationship": "nsp___cls/seq_relationship"}
# Which top-level TF layers each head has (the order transformers writes them in tf_model.h5).
HEAD_LAYERS: dict[str, tuple[str, ...]] = {
    "BertModel": ("bert",),
    "BertForPreTraining": ("bert", "nsp___cls", "mlm___cls"),
    "BertLMHeadModel": ("bert", "mlm___cls"),
    "BertForMaskedLM": ("bert", "mlm___cls"),
    "BertForNextSentencePrediction": ("bert", "nsp___cls"),
    "BertForSequenceClassification": ("bert", "classifier"),
    "BertForMultipleChoice": ("bert", "classifier"),
    "BertForTokenClassification": ("bert", "classifier"),
    "BertForQuestionAnswering": ("bert", "qa_outputs"),
}


def _check_shape(name: str, value: np.ndarray, ndim: int) -> None:
    if value.ndim != ndim:
        raise ValueError(f"{name} has shape {tuple(value.shape)}; a {ndim}-D array was expected.")


def schema_name_to_tf(name: str) -> str:
    """``bert.encoder.layer.0.attention.self.query.weight -> bert/encoder/layer_._0/attention/self/query/kernel``.

    Base-model names (no ``bert.`` prefix) get the ``bert/`` layer TF always has.
    """
    for schema_prefix, tf_prefix in _TOP_LEVEL.items():
        if name.startswith(schema_prefix + "."):
            path = tf_prefix + "/" + name[len(schema_prefix) + 1:].replace(".", "/")
            break
    else:
        if name.startswith(("classifier.", "qa_outputs.")):
            path = name.replace(".", "/")
        else:
            body = name[len("bert."):] if name.startswith("bert.") else name
            path = "bert/" + body.replace(".", "/")
    path = re.sub(r"/layer/(\d+)/", r"/layer_._\1/", path)
    module, _, leaf = path.rpartition("/")
    owner = module.rpartition("/")[2]
    if owner == "LayerNorm":
        leaf = {"weight": "gamma", "bias": "beta"}[leaf]
    elif owner in _KERAS_EMBEDDINGS:
        leaf = "embeddings"
    elif owner in _RAW_WEIGHTS or module == "mlm___cls/predictions":
        pass  # word_embeddings/weight, decoder/weight, predictions/bias keep their names
    elif leaf == "weight":
        leaf = "kernel"
    return f"{module}/{leaf}"


def tf_name_to_schema(name: str, base_model: bool = False) -> str:
    """Inverse of ``schema_name_to_tf``; ``base_model`` drops the ``bert.`` prefix (a ``BertModel`` checkpoint)."""
    name = name.split(":")[0]
    name = re.sub(r"/layer_\._(\d+)/", r"/layer/\1/", name)
    module, _, leaf = name.rpartition("/")
    if leaf in ("gamma", "beta"):
        leaf = {"gamma": "weight", "beta": "bias"}[leaf]
    elif leaf in ("kernel", "embeddings"):
        leaf = "weight"
    dotted = f"{module}/{leaf}".replace("/", ".")
    dotted = re.sub(r"^(mlm|nsp)___cls\.", "cls.", dotted)
    if base_model and dotted.startswith("bert."):
        dotted = dotted[len("bert."):]
    return dotted


def is_kernel(tf_name: str) -> bool:
    """True for Dense kernels, stored transposed relative to the schema."""
    return tf_name.rsplit("/", 1)[-1].split(":")[0] == "kernel"


def tf_to_schema(weights: Mapping[str, np.ndarray], base_model: bool | None = None, release: bool = False,
                 lazy: bool = False) -> dict[str, np.ndarray]:
    """TF-named arrays (model name and ``:0`` already stripped or not) to the interchange schema.

    ``base_model`` (default: inferred, True when every weight sits under ``bert/``) drops the ``bert.`` prefix.
    Kernels are transposed to ``[out, in]`` (new arrays); shapes are checked. ``release=True`` drops the mapped
    pages of a file-backed kernel once its transpose is made (``conversion.formats.common.release``);
    ``lazy=True`` returns file-backed kernels as transposed views (``common.lazy_transposed``: no copy, F-ordered).
    """
    names = {_strip_model_name(k): v for k, v in weights.items()}
    if base_model is None:
        base_model = all(k.startswith("bert/") for k in names)
    out: dict[str, np.ndarray] = {}
    for tf_name, value in names.items():
        value = np.asarray(value)
        schema = tf_name_to_schema(tf_name, base_model)
        if is_kernel(tf_name):
            _check_shape(tf_name, value, 2)
            if lazy:
                value = common.lazy_transposed(value)
            else:
                source, value = value, common.transposed(value)
                if release:
                    common.release(source)
        elif schema.endswith("bias") or "LayerNorm" in schema:
            _check_shape(tf_name, value, 1)
        else:
            _check_shape(tf_name, value, 2)
        if schema in out and not np.array_equal(out[schema], value):
            raise ValueError(f"{tf_name} maps to {schema}, which another TF weight already set to other values.")
        out[schema] = value if value.T.flags.c_contiguous else np.ascontiguousarray(value)
    return out


def tf_specs_to_schema(specs: Mapping[str, TensorSpec], base_model: bool | None = None) -> dict[str, TensorSpec]:
    """``tf_to_schema`` for shapes only: TF names (model name and ``:0`` stripped or not) -> schema specs, kernel
    shapes reversed. ``base_model`` as in ``tf_to_schema``."""
    names = {_strip_model_name(k): v for k, v in specs.items()}
    if base_model is None:
        base_model = all(k.startswith("bert/") for k in names)
    return {tf_name_to_schema(k, base_model): (TensorSpec(*v).transposed() if is_kernel(k) else TensorSpec(*v))
            for k, v in names.items()}


def plan_schema_to_tf(state_dict: Mapping[str, np.ndarray], head: str | None = None
                      ) -> dict[str, tuple[str, bool]]:
    """``{TF name: (schema name, transposed)}``, names, head layers and ranks checked, no data touched
    (streaming writers transpose each kernel as they write it). See ``schema_to_tf``."""
    head = head or infer_head(None, state_dict)
    allowed = HEAD_LAYERS[head] if head in HEAD_LAYERS else None
    if allowed is None:
        raise ValueError(f"Unknown head {head!r}; choose one of {', '.join(HEAD_LAYERS)}.")
    out: dict[str, tuple[str, bool]] = {}
    for name, value in state_dict.items():
        tf_name = schema_name_to_tf(name)
        if tf_name.split("/", 1)[0] not in allowed:
            raise ValueError(f"{name} has no place in a TF {head} (its layers: {', '.join(allowed)}).")
        kernel = is_kernel(tf_name)
        if kernel:
            _check_shape(name, np.asarray(value), 2)
        out[tf_name] = (name, kernel)
    return out


def schema_to_tf(state_dict: Mapping[str, np.ndarray], head: str | None = None) -> dict[str, np.ndarray]:
    """Schema arrays to TF names (``bert/...``, ``mlm___cls/...``), kernels transposed to ``[in, out]``.

    ``head`` (default: inferred from the keys with ``infer_head``) only selects which top-level layers are kept:
    a weight the head has no layer for raises ValueError naming it.
    """
    out: dict[str, np.ndarray] = {}
    for tf_name, (name, kernel) in plan_schema_to_tf(state_dict, head).items():
        value = np.asarray(state_dict[name])
        out[tf_name] = common.transposed(value) if kernel else np.ascontiguousarray(value)
    return out


def _strip_model_name(name: str) -> str:
    """``tf_bert_for_masked_lm/bert/...:0 -> bert/...`` (transformers prefixes every weight with the model name)."""
    name = name.split(":")[0]
    first, _, rest = name.partition("/")
    if rest and first not in ("bert", "mlm___cls", "nsp___cls", "classifier", "qa_outputs"):
        return rest
    return name
