"""transformers 4.57.6 loads what bert_torch writes, and bert_torch loads what transformers writes.

Needs the bench extra (transformers); skipped without it. bert_torch itself never imports transformers.
"""

import pytest
import torch

import bert_torch
from bert_core import HEADS
from tests.conftest import tiny_config_dict
from tests.torch.helpers import import_transformers, tiny_config, torch_inputs

transformers = import_transformers()

pytestmark = pytest.mark.bench_extra


def _overrides(head):
    if head == "BertForQuestionAnswering":
        return {"num_labels": 2}
    if head == "BertLMHeadModel":
        return {"is_decoder": True}
    return {}


def _inputs(head):
    return torch_inputs(choices=2) if head == "BertForMultipleChoice" else torch_inputs()


def _compare(ours, theirs, head, **kwargs):
    inputs = _inputs(head)
    with torch.no_grad():
        a = ours(**inputs, **kwargs)
        b = theirs(**inputs, **kwargs, use_cache=False) if head == "BertLMHeadModel" else theirs(**inputs, **kwargs)
    for field in ("logits", "last_hidden_state", "pooler_output", "prediction_logits", "seq_relationship_logits",
                  "start_logits", "end_logits"):
        if getattr(a, field, None) is not None:
            torch.testing.assert_close(a[field], b[field], rtol=0, atol=1e-5, msg=f"{head}.{field}")


@pytest.mark.parametrize("head", HEADS)
def test_transformers_loads_our_checkpoints(head, tmp_path):
    ours = bert_torch.MODEL_CLASSES[head](tiny_config(**_overrides(head)), seed=2).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = getattr(transformers, head).from_pretrained(tmp_path, attn_implementation="eager",
                                                               output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert set(theirs.state_dict()) == set(ours.state_dict())
    _compare(ours, theirs.eval(), head)


@pytest.mark.parametrize("pos", ["absolute", "relative_key", "relative_key_query"])
def test_we_load_transformers_checkpoints_with_options(pos, tmp_path):
    """A transformers decoder with cross attention and relative positions, saved by transformers."""
    cfg = tiny_config_dict(is_decoder=True, add_cross_attention=True, position_embedding_type=pos)
    torch.manual_seed(0)
    theirs = transformers.BertLMHeadModel(transformers.BertConfig(**cfg)).eval()
    with torch.no_grad():  # make the relative position terms large enough for an offset error to show
        for name, p in theirs.named_parameters():
            if "distance_embedding" in name:
                p.mul_(50)
    theirs.save_pretrained(tmp_path)
    ours = bert_torch.BertLMHeadModel.from_pretrained(tmp_path)
    assert not ours.load_report.missing and not ours.load_report.unexpected
    enc = torch.randn(3, 5, 32)
    inputs = torch_inputs()
    with torch.no_grad():
        a = ours(**inputs, encoder_hidden_states=enc, output_attentions=True)
        # use_cache=False: with a cache transformers 4.57 scores every query of a multi-token call at the last
        # position for relative positions (position_ids_l = key_length - 1); bert_torch does not copy that.
        b = theirs(**inputs, encoder_hidden_states=enc, output_attentions=True, use_cache=False)
        torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=1e-5)
        torch.testing.assert_close(a.cross_attentions[1], b.cross_attentions[1], rtol=0, atol=1e-6)
        # cached single-token steps against transformers' (single tokens: exact in transformers too)
        ids = inputs["input_ids"]
        pa = ours(ids[:, :1], encoder_hidden_states=enc).past_key_values
        pb = theirs(ids[:, :1], encoder_hidden_states=enc).past_key_values
        for t in range(1, 4):
            sa = ours(ids[:, t:t + 1], encoder_hidden_states=enc, past_key_values=pa)
            sb = theirs(ids[:, t:t + 1], encoder_hidden_states=enc, past_key_values=pb)
            torch.testing.assert_close(sa.logits, sb.logits, rtol=0, atol=1e-5)
            torch.testing.assert_close(sa.logits, a.logits[:, t:t + 1], rtol=0, atol=1e-5)
            pa, pb = sa.past_key_values, sb.past_key_values


@pytest.mark.parametrize("head", ["BertForSequenceClassification", "BertForTokenClassification",
                                  "BertForQuestionAnswering"])
def test_losses_equal_transformers(head, tmp_path):
    ours = bert_torch.MODEL_CLASSES[head](tiny_config(**_overrides(head)), seed=2).eval()
    ours.save_pretrained(tmp_path)
    theirs = getattr(transformers, head).from_pretrained(tmp_path).eval()
    inputs = torch_inputs()
    if head == "BertForQuestionAnswering":
        labels = {"start_positions": torch.tensor([1, 40, 2]), "end_positions": torch.tensor([3, 4, -2])}
    elif head == "BertForTokenClassification":
        labels = {"labels": torch.tensor([[0, 1, 2, -100] * 2 + [1, 1, 0]] * 3)}
    else:
        labels = {"labels": torch.tensor([[1.0, 0.0, 1.0]] * 3)}
    with torch.no_grad():
        torch.testing.assert_close(ours(**inputs, **labels).loss, theirs(**inputs, **labels).loss,
                                   rtol=1e-5, atol=1e-6)


def test_sharded_and_bfloat16_checkpoints_both_ways(tmp_path):
    ours = bert_torch.BertForMaskedLM(tiny_config(), seed=3, torch_dtype=torch.bfloat16).eval()
    ours.save_pretrained(tmp_path / "ours", max_shard_size="10KB")
    assert (tmp_path / "ours" / "model.safetensors.index.json").exists()
    theirs = transformers.BertForMaskedLM.from_pretrained(tmp_path / "ours", dtype="auto").eval()
    assert theirs.dtype == torch.bfloat16
    for name, value in ours.state_dict().items():
        assert torch.equal(theirs.state_dict()[name], value), name
    theirs.save_pretrained(tmp_path / "theirs", max_shard_size="10KB")
    assert (tmp_path / "theirs" / "model.safetensors.index.json").exists()
    back = bert_torch.BertForMaskedLM.from_pretrained(tmp_path / "theirs", torch_dtype="auto")
    assert back.dtype == torch.bfloat16 and back.weights_tied()
    for name, value in ours.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name


@pytest.mark.parametrize("pos", ["absolute", "relative_key_query"])
def test_head_mask_attentions_and_hidden_states_equal_transformers(pos, tmp_path):
    ours = bert_torch.BertModel(tiny_config(position_embedding_type=pos), seed=4).eval()
    ours.save_pretrained(tmp_path)
    theirs = transformers.BertModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    inputs = torch_inputs()
    head_mask = torch.tensor([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]])
    with torch.no_grad():
        a = ours(**inputs, head_mask=head_mask, output_attentions=True, output_hidden_states=True)
        b = theirs(**inputs, head_mask=head_mask, output_attentions=True, output_hidden_states=True)
    for x, y in zip(a.attentions + a.hidden_states, b.attentions + b.hidden_states):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.pooler_output, b.pooler_output, rtol=0, atol=1e-5)


def test_we_load_transformers_pytorch_model_bin(tmp_path):
    torch.manual_seed(1)
    theirs = transformers.BertForPreTraining(transformers.BertConfig(**tiny_config_dict())).eval()
    theirs.save_pretrained(tmp_path, safe_serialization=False)
    assert (tmp_path / "pytorch_model.bin").exists()
    ours = bert_torch.BertForPreTraining.from_pretrained(tmp_path)
    assert not ours.load_report.missing and not ours.load_report.unexpected
    inputs = torch_inputs()
    with torch.no_grad():
        torch.testing.assert_close(ours(**inputs).prediction_logits, theirs(**inputs).prediction_logits,
                                   rtol=0, atol=1e-5)
