"""bertzoo's TensorFlow package: Keras 3 BERT models (``TFBert*``), an in-graph tokenizer and SavedModel export.

Importing it sets ``KERAS_BACKEND=tensorflow`` unless already set; Keras must not already run another backend.
Class names, call arguments and outputs follow transformers v4's TF classes, so code ports by changing an import.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "keras" in sys.modules:
    _backend = sys.modules["keras"].backend.backend() if hasattr(sys.modules["keras"], "backend") else None
    if _backend not in (None, "tensorflow"):
        raise ImportError(f"bert_tf needs Keras on the TensorFlow backend, but Keras is already loaded with the "
                          f"{_backend!r} backend. Set KERAS_BACKEND=tensorflow before importing keras (or import "
                          "bert_tf first).")
elif os.environ["KERAS_BACKEND"] != "tensorflow":
    raise ImportError(f"bert_tf needs KERAS_BACKEND=tensorflow, but it is {os.environ['KERAS_BACKEND']!r}. Unset it "
                      "or set it to tensorflow before importing bert_tf.")


def _import_tensorflow_without_jax() -> None:
    """TensorFlow's tf.lite imports jax when installed (only for its jax converter, in a try/except); keep bert_tf
    free of other frameworks by hiding jax while TensorFlow loads, unless something already imported either."""
    if "tensorflow" in sys.modules or "jax" in sys.modules:
        return
    sys.modules["jax"] = None  # type: ignore[assignment]  # makes "from jax import jit" raise ImportError
    try:
        import tensorflow  # noqa: F401
    finally:
        if sys.modules.get("jax", 0) is None:
            del sys.modules["jax"]


_import_tensorflow_without_jax()

from bert_tf.modeling import (  # noqa: E402
    MODEL_CLASSES, TFBertForMaskedLM, TFBertForMultipleChoice, TFBertForNextSentencePrediction,
    TFBertForPreTraining, TFBertForQuestionAnswering, TFBertForSequenceClassification, TFBertForTokenClassification,
    TFBertLMHeadModel, TFBertModel)
from bert_tf.pretrained import TFBertPreTrainedModel  # noqa: E402
from bert_tf.auto import (  # noqa: E402  transformers' Auto classes, after the models they build
    AUTO_CLASSES,
    AutoConfig,
    AutoTokenizer,
    TFAutoModel,
    TFAutoModelForCausalLM,
    TFAutoModelForMaskedLM,
    TFAutoModelForMultipleChoice,
    TFAutoModelForNextSentencePrediction,
    TFAutoModelForPreTraining,
    TFAutoModelForQuestionAnswering,
    TFAutoModelForSequenceClassification,
    TFAutoModelForTokenClassification,
)

__all__ = [
    "MODEL_CLASSES", "TFBertModel", "TFBertForPreTraining", "TFBertLMHeadModel", "TFBertForMaskedLM",
    "TFBertForNextSentencePrediction", "TFBertForSequenceClassification", "TFBertForMultipleChoice",
    "TFBertForTokenClassification", "TFBertForQuestionAnswering", "TFBertPreTrainedModel", "TFBertTokenizer",
    "export_saved_model", "export_serving_model", "AutoConfig", "AutoTokenizer", *AUTO_CLASSES,
]


def __getattr__(name: str):
    # The tokenizer and export need tensorflow-text; import them on first use.
    if name == "TFBertTokenizer":
        from bert_tf.tokenizer import TFBertTokenizer
        return TFBertTokenizer
    if name in ("export_saved_model", "export_serving_model"):
        from bert_tf import export
        return getattr(export, name)
    raise AttributeError(f"module 'bert_tf' has no attribute {name!r}")
