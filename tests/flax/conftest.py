"""Flax test settings: full float32 matmul precision, so the same tolerances hold on GPUs and TPUs.

The sharding test needs 8 virtual CPU devices; XLA reads the flag when jax is first imported, so it is set here
(if nothing imported jax before) and ``test_sharding.py`` falls back to a subprocess otherwise.
"""

import os
import sys

import pytest

if "jax" not in sys.modules:
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_force_host_platform_device_count=8").strip()

jax = pytest.importorskip("jax")
pytest.importorskip("flax")

jax.config.update("jax_default_matmul_precision", "highest")
