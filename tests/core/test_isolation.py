"""Importing a package must not import the frameworks it does not need."""

import subprocess
import sys

import pytest

FRAMEWORKS = ("torch", "tensorflow", "jax", "flax", "keras")
ALLOWED = {
    "bert_core": set(),
    "conversion": set(),
    "bert_torch": {"torch"},
    "bert_tf": {"tensorflow", "keras"},
    "bert_flax": {"jax", "flax"},
    "bertzoo": set(),
    "bert_torch.adapter": {"torch"},
    "bert_tf.adapter": {"tensorflow", "keras"},
    "bert_flax.adapter": {"jax", "flax"},
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_import_pulls_only_its_framework(package):
    code = (f"import sys, {package}; "
            f"print(' '.join(m for m in {FRAMEWORKS!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert set(out) <= ALLOWED[package], f"importing {package} imported {set(out) - ALLOWED[package]}"
