"""d loss / d every parameter, through ``adapter.gradients``, for every head in every framework: bert_torch's
reach every parameter of the interchange schema, and bert_tf's and bert_flax's equal them to 1e-4 relative (per
tensor, relative to its largest gradient, floored at 1e-3 of the largest gradient anywhere), with the same names.

``BertModel`` has no loss: the scalar is a fixed random projection of its two outputs (``probe``). Options
(relative positions, cross attention, problem types, untied decoder) are covered once in the default run, the
rest of the cross product is ``slow``.
"""

from __future__ import annotations

import pytest

from tests.conftest import HEADS
from tests.contract.builders import assert_gradients_close, head_batch, head_config
from tests.contract.conftest import OTHERS, get
from tests.contract.test_equivalence import decoder_batch
from tests.contract.twins import probe_for, twins

RTOL = 1e-4


def gradient_pair(framework: str, head: str, batch: dict, **options) -> tuple[dict, dict]:
    """(torch's gradients, the framework's) of ``head`` with ``options`` on ``batch``."""
    reference, twin = twins(framework, head, **options)
    pt = get("pt")
    probe = probe_for(pt.run(reference, batch)) if head == "BertModel" else None
    return pt.gradients(reference, batch, probe=probe), get(framework).gradients(twin, batch, probe=probe)


@pytest.mark.parametrize("head", HEADS)
def test_torch_gradients_reach_every_parameter(pt, head):
    reference, _ = twins("pt", head)
    batch = head_batch(head, head_config(head))
    probe = probe_for(pt.run(reference, batch)) if head == "BertModel" else None
    grads = pt.gradients(reference, batch, probe=probe)
    assert set(grads) == set(pt.state_dict(reference))
    assert all(float(abs(g).max()) > 0 for name, g in grads.items() if "position_embeddings" not in name)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("framework", OTHERS)
def test_gradients_equal_torch(framework, head):
    want, got = gradient_pair(framework, head, head_batch(head, head_config(head)))
    assert_gradients_close(got, want, RTOL, f"{framework} {head}")


def _option_cases():
    cases = [("BertForMaskedLM", {"position_embedding_type": "relative_key_query"}),
             ("BertLMHeadModel", {"add_cross_attention": True}),
             ("BertForSequenceClassification", {"num_labels": 1, "problem_type": "regression"}),
             ("BertForPreTraining", {"tie_word_embeddings": False})]
    slow = [(h, {"position_embedding_type": p}) for p in ("relative_key", "relative_key_query") for h in HEADS
            if (h, p) != ("BertForMaskedLM", "relative_key_query")]
    slow += [("BertLMHeadModel", {"add_cross_attention": True, "position_embedding_type": "relative_key_query"}),
             ("BertForMaskedLM", {"tie_word_embeddings": False}),
             ("BertForSequenceClassification", {"num_labels": 3, "problem_type": "multi_label_classification"})]
    ids = lambda h, o: f"{h}-" + "-".join(f"{v}" for v in o.values())  # noqa: E731
    return ([pytest.param(h, o, id=ids(h, o)) for h, o in cases]
            + [pytest.param(h, o, id=ids(h, o), marks=pytest.mark.slow) for h, o in slow])


@pytest.mark.parametrize("head,options", _option_cases())
@pytest.mark.parametrize("framework", OTHERS)
def test_gradients_with_options_equal_torch(framework, head, options):
    if options.get("add_cross_attention"):
        batch = decoder_batch()
    else:
        batch = head_batch(head, head_config(head, **options))
    want, got = gradient_pair(framework, head, batch, **options)
    assert_gradients_close(got, want, RTOL, f"{framework} {head} {options}")
