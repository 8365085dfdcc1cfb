"""With the same weights, bert_tf and bert_flax equal bert_torch through the adapters: every output field, the
loss, hidden states and attentions to 1e-5 (float32, CPU), for every head and option.

Options: position embeddings (absolute, relative_key, relative_key_query), a causal decoder with cross attention,
head masks, the three problem types of sequence classification, an untied MLM decoder. The default run covers
every head with absolute positions and each option once; the rest of the cross product is ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ATOL, HEADS
from tests.contract.builders import assert_outputs_close, head_batch, head_config
from tests.contract.conftest import OTHERS, get
from tests.contract.twins import twins

POSITIONS = ("absolute", "relative_key", "relative_key_query")
FAST_RELATIVE = ("BertModel", "BertLMHeadModel")
"""Heads whose relative-position runs are in the default run (encoder and causal attention)."""
TRACE = dict(output_hidden_states=True, output_attentions=True)


def _position_cases():
    for position in POSITIONS:
        for head in HEADS:
            slow = position != "absolute" and head not in FAST_RELATIVE
            yield pytest.param(head, position, marks=[pytest.mark.slow] if slow else [])


def compare(framework: str, head: str, batch: dict, options: dict | None = None, **config) -> dict:
    """Run ``batch`` in both twins; assert every torch output is matched; return torch's outputs."""
    reference, twin = twins(framework, head, **config)
    want = get("pt").run(reference, batch, **(options or {}))
    got = get(framework).run(twin, batch, **(options or {}))
    assert_outputs_close(got, want, ATOL, f"{framework} {head} {config}")
    return want


@pytest.mark.parametrize("head,position", list(_position_cases()))
@pytest.mark.parametrize("framework", OTHERS)
def test_outputs_equal_torch(framework, head, position):
    batch = head_batch(head, head_config(head))
    want = compare(framework, head, batch, TRACE, position_embedding_type=position)
    assert len(want["hidden_states"]) == 3 and len(want["attentions"]) == 2
    assert ("loss" in want) == (head != "BertModel")


def decoder_batch() -> dict[str, np.ndarray]:
    """Causal LM inputs with labels and a padded encoder sequence to cross-attend to."""
    batch = head_batch("BertLMHeadModel", head_config("BertLMHeadModel"))
    rng = np.random.default_rng(5)
    batch["encoder_hidden_states"] = rng.standard_normal((3, 5, 32)).astype(np.float32)
    batch["encoder_attention_mask"] = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    return batch


@pytest.mark.parametrize("position", [POSITIONS[0], *(pytest.param(p, marks=pytest.mark.slow) for p in POSITIONS[1:])])
@pytest.mark.parametrize("framework", OTHERS)
def test_decoder_with_cross_attention_equals_torch(framework, position):
    want = compare(framework, "BertLMHeadModel", decoder_batch(), TRACE, add_cross_attention=True,
                   position_embedding_type=position)
    assert len(want["cross_attentions"]) == 2


@pytest.mark.parametrize("shape", ["per_layer", "shared"])
@pytest.mark.parametrize("framework", OTHERS)
def test_head_mask_equals_torch(framework, shape):
    head = "BertForSequenceClassification"
    mask = np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]], np.float32)
    batch = {**head_batch(head, head_config(head)), "head_mask": mask if shape == "per_layer" else mask[0]}
    compare(framework, head, batch, {"output_attentions": True})


PROBLEMS = {"regression": 1, "single_label_classification": 3, "multi_label_classification": 3}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("framework", OTHERS)
def test_sequence_classification_problem_types_equal_torch(framework, problem):
    head = "BertForSequenceClassification"
    options = dict(num_labels=PROBLEMS[problem], problem_type=problem)  # transformers sets it on the first call
    want = compare(framework, head, head_batch(head, head_config(head, **options)), **options)
    assert want["loss"].shape == ()


@pytest.mark.parametrize("head", ["BertForMaskedLM", "BertForPreTraining"])
@pytest.mark.parametrize("framework", OTHERS)
def test_untied_decoder_equals_torch(framework, head):
    _, twin = twins(framework, head, tie_word_embeddings=False)
    assert "cls.predictions.decoder.weight" in get(framework).state_dict(twin)
    compare(framework, head, head_batch(head, head_config(head)), tie_word_embeddings=False)


@pytest.mark.parametrize("activation", ["gelu_new", "relu"])
@pytest.mark.parametrize("framework", OTHERS)
def test_3d_mask_position_ids_and_activations_equal_torch(framework, activation):
    """A ``[batch, seq, seq]`` attention mask, explicit (reversed) position ids, relative positions and other
    activations."""
    batch = head_batch("BertModel", head_config("BertModel"))
    rng = np.random.default_rng(4)
    mask = (rng.random((3, 11, 11)) > 0.3).astype(np.int64)
    mask[:, :, 0] = 1
    batch.update(attention_mask=mask, position_ids=np.broadcast_to(np.arange(11)[::-1], (3, 11)).copy())
    compare(framework, "BertModel", batch, {"output_attentions": True}, hidden_act=activation,
            position_embedding_type="relative_key_query")
