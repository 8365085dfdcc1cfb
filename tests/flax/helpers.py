"""Builders shared by the Flax tests: the tests' one set (``tests/contract/builders.py``) under the names the Flax
tests import."""

from __future__ import annotations

from tests.contract.builders import head_inputs, head_labels, max_diff, tiny_config  # noqa: F401
