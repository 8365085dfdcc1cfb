"""Every head loads its transformers-saved fixture and reproduces transformers 4.57.6's outputs."""

import logging

import numpy as np
import pytest
import torch

import bert_torch
from tests.conftest import ATOL, HEADS, REFERENCE_FIELDS, TINY, reference_inputs


def _inputs(reference, head):
    return {k: torch.from_numpy(v) for k, v in reference_inputs(reference, head).items()}


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("head", HEADS)
def test_head_reproduces_reference(reference, head, impl, caplog):
    with caplog.at_level(logging.WARNING, logger="bert_torch"):
        model = bert_torch.MODEL_CLASSES[head].from_pretrained(TINY / head / "pt", attn_implementation=impl)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert not model.training
    with torch.no_grad():
        out = model(**_inputs(reference, head))
    for field in REFERENCE_FIELDS[head]:
        np.testing.assert_allclose(out[field].numpy(), reference[f"{head}.{field}"], rtol=0, atol=ATOL,
                                   err_msg=f"{head}.{field}")


def test_base_model_hidden_states_and_attentions(reference):
    model = bert_torch.BertModel.from_pretrained(TINY / "BertModel" / "pt")
    with torch.no_grad():
        out = model(**_inputs(reference, "BertModel"), output_hidden_states=True, output_attentions=True)
    n = model.config.num_hidden_layers
    assert len(out.hidden_states) == n + 1 and len(out.attentions) == n
    for i in range(n + 1):
        np.testing.assert_allclose(out.hidden_states[i].numpy(), reference[f"BertModel.hidden_states.{i}"],
                                   rtol=0, atol=ATOL)
    for i in range(n):
        np.testing.assert_allclose(out.attentions[i].numpy(), reference[f"BertModel.attentions.{i}"],
                                   rtol=0, atol=ATOL)


def test_model_classes_cover_every_head():
    assert list(bert_torch.MODEL_CLASSES) == list(HEADS)
    for name, cls in bert_torch.MODEL_CLASSES.items():
        assert cls.__name__ == name and getattr(bert_torch, name) is cls


@pytest.mark.parametrize("fmt", ["tf", "flax"])
@pytest.mark.parametrize("head", HEADS)
def test_tf_and_flax_checkpoints_load_into_torch(reference, head, fmt):
    """transformers' tf_model.h5 / flax_model.msgpack of the same weights, read through conversion."""
    model = bert_torch.MODEL_CLASSES[head].from_pretrained(TINY / head / fmt)
    assert not model.load_report.missing and not model.load_report.unexpected, model.load_report.summary()
    with torch.no_grad():
        out = model(**_inputs(reference, head))
    for field in REFERENCE_FIELDS[head]:
        np.testing.assert_allclose(out[field].numpy(), reference[f"{head}.{field}"], rtol=0, atol=ATOL)
