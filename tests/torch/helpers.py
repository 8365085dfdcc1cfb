"""Small builders shared by the torch tests."""

import os

import pytest
import torch

from tests.conftest import random_inputs
from tests.contract.builders import tiny_config  # noqa: F401  (the one tiny config builder)


def torch_inputs(**kwargs) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in random_inputs(**kwargs).items()}


def import_transformers():
    """transformers (reference tests only; skip without it), imported without TensorFlow or Flax.

    USE_TF / USE_FLAX are set only while importing: the session's environment stays as it was, since other
    test folders start subprocesses that need transformers' TF classes.
    """
    saved = {k: os.environ.get(k) for k in ("USE_TF", "USE_FLAX")}
    os.environ.update(USE_TF="0", USE_FLAX="0")
    try:
        return pytest.importorskip("transformers")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
