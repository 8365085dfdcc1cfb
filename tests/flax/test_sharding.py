"""Logical-axis sharding on a ("data", "model") mesh of 8 virtual CPU devices equals the unsharded model."""

import os
import subprocess
import sys

import jax

from tests.flax import sharding_check


def test_sharded_forward_equals_unsharded():
    if jax.device_count() >= 8:
        sharding_check.check()
        return
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-m", "tests.flax.sharding_check"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
