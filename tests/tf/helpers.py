"""Helpers shared by the TF tests: tiny configs, torch twins, numpy conversion."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np

from tests.contract.builders import tiny_config  # noqa: F401  (the one tiny config builder)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# A tiny WordPiece vocabulary for tokenizer-driven tests (docs snippets, transformers' docstring examples).
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", ",", "world", "!", "a", "pair", ".", "good", "bad",
         "great", "awful", "movie", "film", "the", "is", "was", "it", "my", "dog", "cute", "##s"]


def np_tree(x):
    """Tensors (and nested tuples of them) to numpy."""
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        return type(x)(np_tree(v) for v in x)
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def assert_close(a, b, atol: float = 1e-5, name: str = "") -> None:
    a, b = np_tree(a), np_tree(b)
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b), name
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, atol, f"{name}[{i}]")
        return
    assert a.shape == b.shape, f"{name}: {a.shape} != {b.shape}"
    diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    assert diff <= atol, f"{name}: max abs diff {diff} > {atol}"


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("bert_torch") is not None


def legacy_transformers_tf_available() -> bool:
    """Whether transformers' TF classes import (needs tf-keras, run with TF_USE_LEGACY_KERAS=1)."""
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("tf_keras") is None:
        return False
    return True


def run_python(code: str, env_extra: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter from the repository root."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
