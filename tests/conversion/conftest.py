"""Conversion test helpers: the tiny fixtures in the schema, and which formats can run here."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conversion.formats import FORMATS
from tests.conftest import HEADS, TINY

# Formats that need a framework to read or write.
_NEEDS = {"bin": "torch", "tf1": "tensorflow"}


def available_formats() -> list[str]:
    """Formats whose modules (and required framework) exist here; others' modules may not be written yet."""
    out = []
    for key, (module, _) in FORMATS.items():
        if importlib.util.find_spec(module) is None:
            continue
        if key in _NEEDS and importlib.util.find_spec(_NEEDS[key]) is None:
            continue
        if key == "tf-safetensors" and importlib.util.find_spec("conversion.names.tf") is None:
            continue
        if key == "flax-safetensors" and importlib.util.find_spec("conversion.names.flax") is None:
            continue
        out.append(key)
    return out


def assert_identical(got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str = "") -> None:
    assert sorted(got) == sorted(want), f"{what}: names differ: {sorted(set(got) ^ set(want))}"
    for name, value in want.items():
        assert got[name].dtype == value.dtype, f"{what}: {name} dtype {got[name].dtype} != {value.dtype}"
        assert got[name].shape == value.shape, f"{what}: {name} shape {got[name].shape} != {value.shape}"
        assert np.array_equal(got[name], value), f"{what}: {name} values differ"


@pytest.fixture(scope="session")
def fixture_state_dicts() -> dict[str, dict[str, np.ndarray]]:
    from conversion import load_state_dict

    return {head: load_state_dict(TINY / head / "pt") for head in HEADS}
