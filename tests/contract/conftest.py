"""Contract-test settings: full float32 matmul precision in every framework (no TF32, JAX "highest"), so the same
tolerances hold on accelerators, and one ``adapter`` fixture per framework (``bertzoo.adapters.get_adapter``).

A framework that is not installed fails the run (``tests.conftest.require``) unless
``BERTZOO_ALLOW_MISSING_FRAMEWORKS=1``, which skips its tests instead.
"""

from __future__ import annotations

import pytest

from tests.conftest import require

FRAMEWORKS = ("pt", "tf", "flax")
OTHERS = ("tf", "flax")
"""The frameworks compared against bert_torch (the reference)."""
_MODULES = {"pt": ("torch",), "tf": ("tensorflow", "keras"), "flax": ("jax", "flax")}
_pinned: set[str] = set()


def _pin(framework: str) -> None:
    """Full-precision float32 matmuls for ``framework`` (once per session)."""
    if framework in _pinned:
        return
    for module in _MODULES[framework]:
        require(module)
    if framework == "pt":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
    elif framework == "tf":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    else:
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    _pinned.add(framework)


def get(framework: str):
    """The adapter of ``framework`` with its precision pinned (bert_torch's too: it is every test's reference)."""
    from bertzoo.adapters import get_adapter

    _pin(framework)
    return get_adapter(framework)


@pytest.fixture(scope="session")
def pt():
    """bert_torch's adapter: the reference every other framework is compared with."""
    return get("pt")
