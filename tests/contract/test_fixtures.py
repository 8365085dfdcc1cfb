"""Every framework x head x checkpoint format: transformers 4.57.6's files, loaded through the framework's adapter,
reproduce transformers' reference outputs to 1e-5 (float32, CPU); BertModel's hidden states and attentions too.
The default run loads each framework's own format; the other formats (read through ``conversion``) are ``slow``."""

from __future__ import annotations

import pytest

from tests.conftest import ATOL, HEADS, REFERENCE_FIELDS, TINY, reference_inputs
from tests.contract.builders import assert_outputs_close
from tests.contract.conftest import FRAMEWORKS, get

FORMATS = ("pt", "tf", "flax")
"""The fixture folders: ``model.safetensors``, ``tf_model.h5``, ``flax_model.msgpack``."""


def _cases():
    for framework in FRAMEWORKS:
        for fmt in FORMATS:
            yield pytest.param(framework, fmt, marks=[] if fmt == framework else [pytest.mark.slow])


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("framework,fmt", list(_cases()))
def test_fixture_reproduces_reference(reference, framework, head, fmt):
    adapter = get(framework)
    loaded = adapter.load(str(TINY / head / fmt), head, device=-1)
    out = adapter.run(loaded, reference_inputs(reference, head))
    want = {field: reference[f"{head}.{field}"] for field in REFERENCE_FIELDS[head]}
    assert_outputs_close(out, want, ATOL, f"{framework}/{head}/{fmt}")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_base_model_hidden_states_and_attentions(reference, framework):
    adapter = get(framework)
    loaded = adapter.load(str(TINY / "BertModel" / framework), "BertModel", device=-1)
    out = adapter.run(loaded, reference_inputs(reference, "BertModel"), output_hidden_states=True,
                      output_attentions=True)
    layers = loaded.config.num_hidden_layers
    want = {"hidden_states": tuple(reference[f"BertModel.hidden_states.{i}"] for i in range(layers + 1)),
            "attentions": tuple(reference[f"BertModel.attentions.{i}"] for i in range(layers))}
    assert_outputs_close(out, want, ATOL, framework)
