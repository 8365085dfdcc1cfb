"""transformers 4.57.6 loads the PyTorch, TF, Flax and TF1 files bertzoo writes and reproduces the references.

Each framework runs in one subprocess (TF with TF_USE_LEGACY_KERAS=1, as transformers' TF needs Keras 2), so this
process never imports transformers' TF or Flax code. Needs the bench extra; skipped without transformers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conversion import convert
from tests.conftest import ATOL, HEADS, TINY
from tests.conversion.conftest import available_formats

pytestmark = pytest.mark.bench_extra
if importlib.util.find_spec("transformers") is None:
    pytest.skip("transformers (bench extra) is not installed", allow_module_level=True)

FORMATS = available_formats()
# framework -> (formats transformers reads there, heads); transformers' TF1 loader only knows the pre-training names.
CASES = {
    "pt": (("safetensors", "bin"), HEADS, ("torch",)),
    "tf": (("tf", "tf-safetensors"), HEADS, ("tensorflow", "tf_keras")),
    "flax": (("flax", "flax-safetensors"), HEADS, ("jax", "flax")),
    "tf1": (("tf1",), ("BertForPreTraining", "BertForMaskedLM", "BertForNextSentencePrediction"),
            ("torch", "tensorflow")),
}


def _worker(framework: str, jobs: list[tuple[str, str]]) -> dict:
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    if framework != "tf":
        env["USE_TF"] = "0"
    if framework != "flax":
        env["USE_FLAX"] = "0"
    worker = os.path.join(os.path.dirname(__file__), "transformers_worker.py")
    proc = subprocess.run([sys.executable, worker, framework], input=json.dumps(jobs), capture_output=True,
                          text=True, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")]
    if not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        if framework == "flax" and "Error" in tail and "import" in tail.lower():
            pytest.skip(f"transformers' Flax does not import here: {tail[-300:]}")
        raise AssertionError(f"worker {framework} failed (status {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len("RESULTS "):])


@pytest.mark.parametrize("framework", sorted(CASES))
def test_transformers_loads_what_we_write(framework, tmp_path):
    formats, heads, packages = CASES[framework]
    for package in packages:
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed")
    formats = [f for f in formats if f in FORMATS]
    if not formats:
        pytest.skip(f"no bertzoo writer for {framework} here")
    jobs = []
    for head in heads:
        for fmt in formats:
            folder = tmp_path / head / fmt
            convert(TINY / head / "pt", folder, fmt)
            jobs.append((head, str(folder)))
    results = _worker(framework, jobs)
    bad = {k: v for k, v in results.items() if isinstance(v, str) or max(v.values()) > ATOL}
    assert len(results) == len(jobs)
    assert not bad, json.dumps(bad, indent=1)
