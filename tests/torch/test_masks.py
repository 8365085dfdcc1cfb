"""attention_mask semantics: any nonzero value keeps a token (self and cross attention, eager and sdpa)."""

import pytest
import torch

import bert_torch
from tests.torch.helpers import tiny_config, torch_inputs


def _pair(impl):
    enc = bert_torch.BertModel(tiny_config(attn_implementation=impl), seed=0).eval()
    dec = bert_torch.BertLMHeadModel(tiny_config(attn_implementation=impl, is_decoder=True,
                                                 add_cross_attention=True), seed=0).eval()
    return enc, dec


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_mask_of_twos_equals_mask_of_ones(impl):
    enc, dec = _pair(impl)
    inputs = torch_inputs(batch=3, seq=9)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    states = torch.randn(3, 5, 32, generator=torch.Generator().manual_seed(1))
    enc_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    with torch.no_grad():
        for scale in (2, 7):
            torch.testing.assert_close(enc(ids, attention_mask=mask * scale).last_hidden_state,
                                       enc(ids, attention_mask=mask).last_hidden_state, rtol=0, atol=0)
            torch.testing.assert_close(
                dec(ids, attention_mask=mask * scale, encoder_hidden_states=states,
                    encoder_attention_mask=enc_mask * scale).logits,
                dec(ids, attention_mask=mask, encoder_hidden_states=states, encoder_attention_mask=enc_mask).logits,
                rtol=0, atol=0)
        # a 3-D mask and a float mask follow the same rule
        square = (mask[:, None, :] * torch.ones(1, 9, 1, dtype=mask.dtype))
        torch.testing.assert_close(enc(ids, attention_mask=(square * 3).float()).last_hidden_state,
                                   enc(ids, attention_mask=square).last_hidden_state, rtol=0, atol=0)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_a_row_does_not_depend_on_the_other_rows(impl):
    enc, dec = _pair(impl)
    ids = torch_inputs(batch=2, seq=8)["input_ids"]
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0], [2, 2, 2, 2, 0, 0, 0, 0]])
    states = torch.randn(2, 4, 32, generator=torch.Generator().manual_seed(2))
    enc_mask = torch.tensor([[1, 1, 1, 0], [3, 3, 0, 0]])
    with torch.no_grad():
        batch = enc(ids, attention_mask=mask).last_hidden_state
        batch_dec = dec(ids, attention_mask=mask, encoder_hidden_states=states, encoder_attention_mask=enc_mask).logits
        for row in range(2):
            alone = enc(ids[row:row + 1], attention_mask=(mask[row:row + 1] != 0).long()).last_hidden_state
            keep = mask[row] != 0
            torch.testing.assert_close(batch[row, keep], alone[0, keep], rtol=0, atol=1e-5)
            alone_dec = dec(ids[row:row + 1], attention_mask=(mask[row:row + 1] != 0).long(),
                            encoder_hidden_states=states[row:row + 1],
                            encoder_attention_mask=(enc_mask[row:row + 1] != 0).long()).logits
            torch.testing.assert_close(batch_dec[row, keep], alone_dec[0, keep], rtol=0, atol=1e-5)
