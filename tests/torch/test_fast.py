"""The padding-free inference path (``optimize_for_inference``) and its measured kernel dispatch, tiny configs."""

import pytest
import torch

import bert_torch
from bert_torch import kernels
from bert_torch.kernels import PackedLinear, mkldnn_available
from tests.torch.helpers import tiny_config
from tests.torch.test_minilm import SENTENCES, _tokenize, minilm_folder  # noqa: F401  (minilm_folder: a fixture)

BACKENDS = ["aten"] + (["mkldnn"] if mkldnn_available(torch.device("cpu"), torch.float32) else [])


def _model(head="BertModel", **overrides):
    if head == "BertForQuestionAnswering":
        overrides.setdefault("num_labels", 2)
    return bert_torch.MODEL_CLASSES[head](tiny_config(attn_implementation="sdpa", **overrides), seed=0).eval()


def _ragged(batch=5, seq=11, vocab=99, left_pad_row=True):
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (batch, seq), generator=gen)
    types = torch.randint(0, 2, (batch, seq), generator=gen)
    mask = torch.ones(batch, seq, dtype=torch.long)
    for row, length in enumerate([seq, 6, 1, 9, 3][:batch]):
        mask[row, length:] = 0
    if left_pad_row:
        mask[-1] = 0
        mask[-1, -4:] = 2  # left padding, and a nonzero keep value other than 1
    return ids, mask, types


@pytest.mark.parametrize("attention", ["padded", "loop"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_equals_padded_computation_on_real_tokens(backend, attention):
    model = _model()
    ids, mask, types = _ragged()
    with torch.no_grad():
        ref = model(ids, mask, types)
        out = model.optimize_for_inference(backend=backend, attention=attention)(ids, mask, types)
    keep = mask != 0
    torch.testing.assert_close(out.last_hidden_state[keep], ref.last_hidden_state[keep], rtol=0, atol=1e-5)
    assert out.last_hidden_state[~keep].abs().max() == 0  # padded positions are zeros
    torch.testing.assert_close(out.pooler_output[:-1], ref.pooler_output[:-1], rtol=0, atol=1e-5)  # right padding
    assert model.fast_path.backend == backend and model.fast_path.attention == attention


@pytest.mark.parametrize("mask", [None, "ones"])
def test_unpadded_batch_equals_everywhere(mask):
    model = _model()
    ids, _, types = _ragged()
    mask = None if mask is None else torch.ones_like(ids)
    with torch.no_grad():
        ref = model(ids, mask, types)
        out = model.optimize_for_inference()(ids, mask, types)
    torch.testing.assert_close(out.last_hidden_state, ref.last_hidden_state, rtol=0, atol=1e-5)
    torch.testing.assert_close(out.pooler_output, ref.pooler_output, rtol=0, atol=1e-5)


@pytest.mark.parametrize("head", ["BertForSequenceClassification", "BertForTokenClassification",
                                  "BertForMaskedLM", "BertForQuestionAnswering"])
def test_heads_use_the_fast_path(head):
    model = _model(head)
    ids, mask, types = _ragged(left_pad_row=False)
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        assert model.optimize_for_inference() is model
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
    assert model.bert.fast_path is not None
    keep = mask != 0
    for a, b in zip(out.to_tuple(), ref.to_tuple()):
        if a.dim() >= 2 and a.shape[:2] == mask.shape:
            a, b = a[keep], b[keep]
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_ineligible_calls_run_the_regular_path():
    model = _model()
    ids, mask, types = _ragged()
    with torch.no_grad():
        ref = model(ids, mask, types, output_hidden_states=True)
        model.optimize_for_inference()
        for kwargs in ({"output_attentions": True}, {"output_hidden_states": True},
                       {"head_mask": torch.ones(4)}):
            out = model(ids, mask, types, **kwargs)
            torch.testing.assert_close(out.last_hidden_state, ref.last_hidden_state)  # padded rows not zeroed
    out = model(ids, mask, types)  # autograd on: regular path
    torch.testing.assert_close(out.last_hidden_state.detach(), ref.last_hidden_state)
    with torch.no_grad():
        model.train()
        model.config.hidden_dropout_prob = 0.0
        assert model(ids, mask, types).last_hidden_state[mask == 0].abs().max() > 0
        model.eval()
        assert model.optimize_for_inference(enabled=False).fast_path is None
        torch.testing.assert_close(model(ids, mask, types).last_hidden_state, ref.last_hidden_state)


def test_fully_masked_rows_are_zeros():
    model = _model().optimize_for_inference()
    ids, mask, types = _ragged()
    mask[1] = 0
    with torch.no_grad():
        out = model(ids, mask, types).last_hidden_state
        assert out[1].abs().max() == 0 and out[0].abs().max() > 0
        assert model(ids, torch.zeros_like(mask), types).last_hidden_state.abs().max() == 0


def test_bfloat16_fast_path_is_close_to_float32():
    model = _model()
    ids, mask, types = _ragged(left_pad_row=False)
    keep = mask != 0
    with torch.no_grad():
        ref = model.optimize_for_inference()(ids, mask, types).last_hidden_state
        out = model.optimize_for_inference(dtype=torch.bfloat16)(ids, mask, types).last_hidden_state
        assert out.dtype == torch.float32  # cast back to the model's dtype for the pooler and heads
        half = _model().to(torch.bfloat16).optimize_for_inference()
        assert half.fast_path.dtype == torch.bfloat16
        assert half(ids, mask, types).last_hidden_state.dtype == torch.bfloat16
    cos = torch.nn.functional.cosine_similarity(out[keep], ref[keep], dim=-1)
    assert cos.min() > 0.999, cos.min()


def test_dispatch_is_measured_once_and_cached(monkeypatch):
    kernels.clear_dispatch_cache()
    calls = []
    real = kernels._best_time
    monkeypatch.setattr(kernels, "_best_time", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = kernels.choose_backend(32, 64, torch.float32, torch.device("cpu"), tokens=16, reps=1)
    measured = len(calls)
    assert kernels.choose_backend(32, 64, torch.float32, torch.device("cpu")) == first
    assert len(calls) == measured  # cached: no second measurement
    (choice, timings), = kernels.dispatch_table().values()
    assert choice == first and set(timings) == set(BACKENDS)
    assert measured == (2 if len(BACKENDS) > 1 else 0)  # two GEMM shapes (up and down projection) per candidate


def test_packed_linear_matches_functional():
    gen = torch.Generator().manual_seed(0)
    w, b, x, r = (torch.randn(*s, generator=gen) for s in ((24, 16), (24,), (7, 16), (7, 24)))
    for backend in BACKENDS:
        for act in (None, "gelu", "relu", "gelu_new", "tanh"):
            ref = torch.nn.functional.linear(x, w, b)
            ref = bert_torch.layers.ACT2FN[act](ref) if act else ref
            torch.testing.assert_close(PackedLinear(w, b, backend, act)(x), ref, rtol=0, atol=1e-5)
            torch.testing.assert_close(PackedLinear(w, b, backend, act)(x, r), ref + r, rtol=0, atol=1e-5)


def test_float32_units_give_the_native_low_precision_result():
    """``-f32`` backends: a bf16 GEMM carried out in float32 equals the native bf16 GEMM (exact products, float32
    accumulation) up to accumulation order, and returns bf16; a bf16 model's dispatch measures them as candidates."""
    gen = torch.Generator().manual_seed(0)
    w, b, x, r = (torch.randn(*s, generator=gen).to(torch.bfloat16) for s in ((48, 64), (48,), (9, 64), (9, 48)))
    native = torch.nn.functional.linear(x, w, b)
    for backend in [name + "-f32" for name in BACKENDS]:
        for residual in (None, r):
            out = PackedLinear(w, b, backend)(x, residual)
            assert out.dtype == torch.bfloat16
            expect = native if residual is None else native + r
            torch.testing.assert_close(out.float(), expect.float(), rtol=1e-2, atol=1e-2)
        gelu = PackedLinear(w, b, backend, "gelu")(x)
        torch.testing.assert_close(gelu.float(), torch.nn.functional.gelu(native.float()), rtol=1e-2, atol=2e-2)
    kernels.clear_dispatch_cache()
    choice = kernels.choose_backend(32, 64, torch.bfloat16, torch.device("cpu"), tokens=16, reps=1)
    (_, timings), = kernels.dispatch_table().values()
    assert {"aten", "aten-f32"} <= set(timings) and choice in timings
    model = _model().to(torch.bfloat16).optimize_for_inference(backend="aten-f32")
    ids, mask, types = _ragged(left_pad_row=False)
    with torch.no_grad():
        fast = model(ids, mask, types).last_hidden_state
        slow = model.optimize_for_inference(enabled=False)(ids, mask, types).last_hidden_state
    keep = mask != 0
    assert torch.nn.functional.cosine_similarity(fast[keep].float(), slow[keep].float(), dim=-1).min() > 0.999


def test_bad_choices_are_named():
    model = _model()
    with pytest.raises(ValueError, match="backend must be one of"):
        model.optimize_for_inference(backend="mkl")
    with pytest.raises(ValueError, match="attention must be one of"):
        model.optimize_for_inference(attention="nested")
    with pytest.raises(ValueError, match="backend must be one of"):
        PackedLinear(torch.zeros(2, 2), None, "auto")


@pytest.mark.slow
def test_minilm_bfloat16_sentence_embeddings_keep_cosine(minilm_folder):
    """Real all-MiniLM-L6-v2: the fast path in float32 equals the regular one; in bfloat16 (the model cast to
    bfloat16) mean-pooled sentence embeddings keep cosine >= 0.999 to float32."""
    folder = minilm_folder
    ids, mask = _tokenize(folder, SENTENCES + ["Short.", "A somewhat longer sentence, to spread the lengths out."])

    def pooled(model):
        with torch.no_grad():
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        m = mask[..., None].float()
        return (hidden * m).sum(1) / m.sum(1)

    ref = pooled(bert_torch.BertModel.from_pretrained(folder, attn_implementation="sdpa"))
    fast32 = pooled(bert_torch.BertModel.from_pretrained(folder).optimize_for_inference())
    fast16 = pooled(bert_torch.BertModel.from_pretrained(folder, torch_dtype=torch.bfloat16).optimize_for_inference())
    torch.testing.assert_close(fast32, ref, rtol=0, atol=1e-5)
    cos = torch.nn.functional.cosine_similarity(fast16, ref, dim=-1)
    print(f"MiniLM bf16 vs fp32 sentence cosine: min {cos.min():.6f}")
    assert cos.min() >= 0.999, cos


def test_gpu_check_exits_clearly_without_a_gpu(tmp_path):
    """bench/gpu_check.sh on a machine without nvidia-smi: exit status 3 and a message saying nothing ran."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "date", "timeout"):  # a PATH with the script's tools but no nvidia-smi
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found:
            (bindir / tool).symlink_to(found)
    env = {"PATH": str(bindir), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", os.path.join(root, "bench", "gpu_check.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "no NVIDIA GPU" in proc.stderr and "nothing checked" in proc.stderr


def test_adapter_optimize_turns_the_fast_path_on():
    from bert_torch.adapter import ADAPTER
    loaded = ADAPTER.build(tiny_config(attn_implementation="sdpa"), "BertModel")
    ids, mask, types = _ragged(left_pad_row=False)
    batch = {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "token_type_ids": types.numpy()}
    ref = ADAPTER.run(loaded, batch)["last_hidden_state"]
    assert ADAPTER.optimize(loaded) is loaded and loaded.model.fast_path is not None
    out = ADAPTER.run(loaded, batch)["last_hidden_state"]
    keep = mask.numpy() != 0
    assert abs(out[keep] - ref[keep]).max() <= 1e-5 and abs(out[~keep]).max() == 0


def test_deepcopy_and_pickle_keep_the_fast_path():
    import copy
    import io
    model = _model().optimize_for_inference(attention="loop")
    clone = copy.deepcopy(model)
    assert clone.fast_path is not None and clone.fast_path is not model.fast_path
    assert clone.fast_path.options == model.fast_path.options
    ids, mask, types = _ragged()
    with torch.no_grad():
        torch.testing.assert_close(clone(ids, mask, types).last_hidden_state,
                                   model(ids, mask, types).last_hidden_state)
    buffer = io.BytesIO()
    torch.save(model, buffer)  # packed oneDNN weights cannot be saved: only the options travel
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert loaded.fast_path.options == model.fast_path.options


def test_position_ids_and_default_token_types():
    model = _model()
    ids, mask, _ = _ragged(left_pad_row=False)
    positions = torch.arange(ids.shape[1]).flip(0).expand_as(ids).contiguous()
    keep = mask != 0
    with torch.no_grad():
        ref = model(ids, mask, position_ids=positions).last_hidden_state
        out = model.optimize_for_inference()(ids, mask, position_ids=positions).last_hidden_state
    torch.testing.assert_close(out[keep], ref[keep], rtol=0, atol=1e-5)
