"""Flax test settings: full float32 matmul precision, so the same tolerances hold on GPUs and TPUs.

The sharding test needs 8 devices: ``test_sharding.py`` runs it in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` unless this process already has 8 (so the flag never
leaks into the other frameworks' tests sharing this pytest process).
"""

from tests.conftest import require

jax = require("jax")
require("flax")

jax.config.update("jax_default_matmul_precision", "highest")
