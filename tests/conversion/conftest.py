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
    """Every registered format. None is left out when its module or framework is missing: such a format's tests
    fail (``test_every_format_can_run_here`` says which is missing), they are never silently skipped."""
    return list(FORMATS)


def missing_for_formats() -> list[str]:
    """Modules and frameworks the registered formats need that are not installed here."""
    missing = [module for module, _ in FORMATS.values() if importlib.util.find_spec(module) is None]
    return missing + [f"{package} (for {key})" for key, package in _NEEDS.items()
                      if importlib.util.find_spec(package) is None]


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
