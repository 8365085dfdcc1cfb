"""Decoder use: causal masking, cross attention and step-by-step decoding with the key/value cache."""

import pytest
import torch

import bert_torch
from tests.torch.helpers import tiny_config, torch_inputs

POSITIONS = ["absolute", "relative_key", "relative_key_query"]


def _decoder(pos="absolute", impl="eager", cross=False, seed=0):
    config = tiny_config(is_decoder=True, add_cross_attention=cross, position_embedding_type=pos,
                         attn_implementation=impl)
    model = bert_torch.BertLMHeadModel(config, seed=seed).eval()
    with torch.no_grad():  # relative position terms large enough for an offset error to show
        for name, p in model.named_parameters():
            if "distance_embedding" in name:
                p.mul_(50)
    return model


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("pos", POSITIONS)
def test_cached_decoding_equals_full_pass(pos, impl, cross):
    model = _decoder(pos, impl, cross)
    inputs = torch_inputs(batch=2, seq=9)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    extra = {}
    if cross:
        enc = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(1))
        enc_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
        extra = {"encoder_hidden_states": enc, "encoder_attention_mask": enc_mask}
    with torch.no_grad():
        full = model(ids, attention_mask=mask, **extra, use_cache=False).logits
        # a 4-token prompt, then one token at a time
        out = model(ids[:, :4], attention_mask=mask[:, :4], **extra, use_cache=True)
        steps, past = [out.logits], out.past_key_values
        assert len(past) == 2 and len(past[0]) == (4 if cross else 2)
        assert past[0][0].shape == (2, 4, 4, 8)
        for t in range(4, 9):
            out = model(ids[:, t:t + 1], attention_mask=mask[:, :t + 1], **extra, past_key_values=past,
                        use_cache=True)
            steps.append(out.logits)
            past = out.past_key_values
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-5)


def test_cache_chunks_of_several_tokens():
    model = _decoder("relative_key_query")
    ids = torch_inputs(batch=2, seq=9)["input_ids"]
    with torch.no_grad():
        full = model(ids).logits
        first = model(ids[:, :3])
        second = model(ids[:, 3:], past_key_values=first.past_key_values)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), full, rtol=0, atol=1e-5)


def test_decoder_is_causal_and_encoder_is_not():
    ids = torch_inputs(batch=1, seq=8)["input_ids"]
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 99
    dec = _decoder()
    enc = bert_torch.BertForMaskedLM(tiny_config(), seed=0).eval()
    with torch.no_grad():
        torch.testing.assert_close(dec(ids).logits[:, :-1], dec(changed).logits[:, :-1], rtol=0, atol=1e-6)
        assert not torch.allclose(enc(ids).logits[:, :-1], enc(changed).logits[:, :-1], atol=1e-4)


def test_cross_attention_modules_and_outputs():
    model = _decoder(cross=True)
    names = set(model.state_dict())
    assert "bert.encoder.layer.0.crossattention.self.query.weight" in names
    assert "bert.encoder.layer.1.crossattention.output.LayerNorm.bias" in names
    enc = torch.randn(3, 5, 32)
    out = model(**torch_inputs(), encoder_hidden_states=enc, output_attentions=True)
    assert len(out.cross_attentions) == 2 and out.cross_attentions[0].shape == (3, 4, 11, 5)
    with pytest.raises(ValueError, match="add_cross_attention"):
        _decoder()(**torch_inputs(), encoder_hidden_states=enc)


def test_no_cache_for_encoders_and_with_labels():
    enc = bert_torch.BertModel(tiny_config(), seed=0).eval()
    assert enc(**torch_inputs(), use_cache=True).past_key_values is None
    ids = torch_inputs()["input_ids"]
    dec = _decoder()
    assert dec(ids).past_key_values is not None  # config.use_cache defaults to True for decoders
    assert dec(ids, labels=ids).past_key_values is None


def test_past_key_values_must_match_layers():
    dec = _decoder()
    past = dec(torch_inputs()["input_ids"]).past_key_values
    with pytest.raises(ValueError, match="one \\(key, value"):
        dec(torch_inputs()["input_ids"][:, :1], past_key_values=past[:1])
