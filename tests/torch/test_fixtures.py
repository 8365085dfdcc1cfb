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


def test_model_classes_cover_every_head():
    assert list(bert_torch.MODEL_CLASSES) == list(HEADS)
    for name, cls in bert_torch.MODEL_CLASSES.items():
        assert cls.__name__ == name and getattr(bert_torch, name) is cls
