from bert_core.outputs import BaseModelOutputWithPoolingAndCrossAttentions, CausalLMOutputWithCrossAttentions


def test_return_tuples_follow_transformers():
    out = BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state="seq", hidden_states="hs",
                                                       past_key_values="past")
    assert out.to_tuple() == ("seq", "hs", "past")  # ModelOutput.to_tuple: set fields in field order
    assert out.return_tuple() == ("seq", None, "past", "hs")  # BertModel(return_dict=False): pooler kept as None
    lm = CausalLMOutputWithCrossAttentions(loss="loss", logits="logits", past_key_values="past")
    assert lm.return_tuple() == lm.to_tuple() == ("loss", "logits", "past")
    assert out[1] == "hs" and out["past_key_values"] == "past" and "pooler_output" not in out


def test_bert_model_without_pooler_returns_none_in_its_tuple():
    import numpy as np
    import pytest

    from bert_core import BertConfig
    from tests.conftest import tiny_config_dict
    torch = pytest.importorskip("torch")
    bert_torch = pytest.importorskip("bert_torch")
    model = bert_torch.BertModel(BertConfig(**tiny_config_dict()), add_pooling_layer=False)
    out = model(torch.from_numpy(np.ones((1, 4), np.int64)), output_hidden_states=True, return_dict=False)
    assert out[1] is None and len(out) == 3  # (last_hidden_state, None, hidden_states) as transformers


def test_shape_check_broadcasts_ones_and_names_mismatches():
    import numpy as np
    import pytest

    from bert_core.checks import check_same_shape
    check_same_shape("input_ids", (2, 5), position_ids=np.zeros((1, 5)), token_type_ids=np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"position_ids has shape \(2, 4\)"):
        check_same_shape("input_ids", (2, 5), position_ids=np.zeros((2, 4)))
