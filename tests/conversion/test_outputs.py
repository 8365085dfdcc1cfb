"""Every fixture, converted to every format, reproduces transformers' reference outputs in every framework.

Each framework builds each head once (from the PyTorch fixture), then loads every converted checkpoint into that
model through ``load_schema_state_dict`` and runs the fixture inputs: max abs difference <= 1e-5. The model is
run once per distinct state dict (keyed by a hash of names, dtypes and bytes): formats that read back bit-identical
tensors share the outputs of one run, which keeps the test fast (a bertzoo Flax call costs seconds on CPU).
"""

from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest

from conversion import convert, load_state_dict
from tests.conftest import ATOL, HEADS, REFERENCE_FIELDS, TINY, reference_inputs
from tests.conversion.conftest import available_formats

FORMATS = available_formats()
_PACKAGES = {"pt": ("torch", "bert_torch"), "tf": ("tensorflow", "bert_tf"), "flax": ("jax", "flax", "bert_flax")}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """head -> {format: state dict read back from the converted folder}; each conversion runs once."""
    root = tmp_path_factory.mktemp("converted")
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for head in HEADS:
        out[head] = {}
        for fmt in FORMATS:
            dst = root / head / fmt
            convert(TINY / head / "pt", dst, fmt)
            out[head][fmt] = load_state_dict(dst)
    return out


def _digest(sd: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(sd):
        h.update(f"{name}:{sd[name].dtype}:{sd[name].shape};".encode())
        h.update(np.ascontiguousarray(sd[name]).tobytes())
    return h.hexdigest()


def _runner(framework: str, head: str):
    for package in _PACKAGES[framework]:
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed")
    package = importlib.import_module(_PACKAGES[framework][-1])
    model = package.MODEL_CLASSES[head].from_pretrained(TINY / head / "pt")
    if framework == "pt":
        import torch

        torch.set_float32_matmul_precision("highest")
        model.eval()

        def run(inputs):
            with torch.inference_mode():
                out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
            return {k: v.numpy() for k, v in out.items() if hasattr(v, "numpy")}
    elif framework == "tf":
        import tensorflow as tf

        def run(inputs):
            out = model({k: tf.constant(v.astype(np.int32)) for k, v in inputs.items()}, training=False)
            return {k: np.asarray(v) for k, v in out.items() if not isinstance(v, (tuple, list))}
    else:
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")

        def run(inputs):
            out = model(**{k: v.astype(np.int32) for k, v in inputs.items()})
            return {k: np.asarray(v) for k, v in out.items() if not isinstance(v, (tuple, list))}
    return model, run


@pytest.mark.parametrize("framework", ["pt", "tf", "flax"])
@pytest.mark.parametrize("head", HEADS)
def test_converted_checkpoints_reproduce_reference_outputs(head, framework, converted, reference):
    model, run = _runner(framework, head)
    inputs = reference_inputs(reference, head)
    failures = []
    runs: dict[str, dict[str, np.ndarray]] = {}
    for fmt, sd in converted[head].items():
        key = _digest(sd)
        if key not in runs:
            report = model.load_schema_state_dict(sd)
            assert not report.missing and not report.unexpected, (fmt, report.summary())
            runs[key] = run(inputs)
        outputs = runs[key]
        for field in REFERENCE_FIELDS[head]:
            diff = float(np.max(np.abs(outputs[field] - reference[f"{head}.{field}"])))
            if diff > ATOL:
                failures.append(f"{fmt}: {field} max abs diff {diff:.2e}")
    assert not failures, f"{head} in {framework}: " + "; ".join(failures)
