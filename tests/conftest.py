"""Shared test fixtures. Framework-specific precision pins live in each framework folder's conftest.py."""

from __future__ import annotations

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # oneDNN reorders float sums; keep TF on plain kernels
# JAX's persistent compilation cache, fresh for each run and shared with the tests' subprocesses: the Flax tests
# build the same tiny programs many times (each train() call jits a new step function)
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = _jax_cache = tempfile.mkdtemp(prefix="bertzoo-test-jax-cache-")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    atexit.register(shutil.rmtree, _jax_cache, ignore_errors=True)

import numpy as np
import pytest

from bert_core.heads import HEADS as HEAD_NAMES

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
ALLOW_MISSING = os.environ.get("BERTZOO_ALLOW_MISSING_FRAMEWORKS") == "1"


def require(module: str):
    """Import ``module`` (a framework or one of our framework packages) for a test.

    ``make test`` and CI install every framework, so a failed import fails the run: a framework never drops out of
    the suite silently. Set ``BERTZOO_ALLOW_MISSING_FRAMEWORKS=1`` in a partial install to skip instead.
    """
    if ALLOW_MISSING:
        return pytest.importorskip(module)
    import importlib

    return importlib.import_module(module)

TINY = FIXTURES / "tiny"
HEADS = HEAD_NAMES  # from the head table: a new row is tested everywhere
# Output fields each head's fixture records (reference_outputs.npz keys are "<Head>.<field>").
REFERENCE_FIELDS = {
    "BertModel": ("last_hidden_state", "pooler_output"),
    "BertForPreTraining": ("prediction_logits", "seq_relationship_logits"),
    "BertLMHeadModel": ("logits",),
    "BertForMaskedLM": ("logits",),
    "BertForNextSentencePrediction": ("logits",),
    "BertForSequenceClassification": ("logits",),
    "BertForMultipleChoice": ("logits",),
    "BertForTokenClassification": ("logits",),
    "BertForQuestionAnswering": ("start_logits", "end_logits"),
}
ATOL = 1e-5


@pytest.fixture(scope="session")
def reference() -> dict[str, np.ndarray]:
    """Inputs and outputs of transformers 4.57.6 on the tiny fixtures (see tests/fixtures/README.md)."""
    with np.load(TINY / "reference_outputs.npz") as z:
        return {k: z[k] for k in z.files}


def reference_inputs(reference: dict[str, np.ndarray], head: str) -> dict[str, np.ndarray]:
    """The fixture inputs for ``head`` (multiple choice uses the [batch, choices, seq] ones)."""
    prefix = "inputs.mc_" if head == "BertForMultipleChoice" else "inputs."
    return {name: reference[prefix + name] for name in ("input_ids", "attention_mask", "token_type_ids")}


def tiny_config_dict(**overrides) -> dict:
    """A tiny BERT config as a dict (vocab 99, hidden 32, 2 layers, 4 heads), dropout off for equivalence tests."""
    base = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=64, type_vocab_size=2, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0, num_labels=3)
    base.update(overrides)
    return base


def random_inputs(batch: int = 3, seq: int = 11, vocab: int = 99, seed: int = 0, choices: int | None = None):
    """Random ids with a padded attention mask (last rows padded) and two segments."""
    rng = np.random.default_rng(seed)
    shape = (batch, seq) if choices is None else (batch, choices, seq)
    input_ids = rng.integers(1, vocab, size=shape).astype(np.int64)
    attention_mask = np.ones(shape, np.int64)
    attention_mask[-1, ..., seq - 3:] = 0
    token_type_ids = np.zeros(shape, np.int64)
    token_type_ids[..., seq // 2:] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
