"""Options beyond the defaults: cached decoding, scan over layers, remat, dtypes, input checks, loading modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bert_flax
from tests.conftest import ATOL, TINY
from tests.flax.helpers import head_inputs, head_labels, max_diff, tiny_config

POSITIONS = ["absolute", "relative_key", "relative_key_query"]


def _decoder(pos="absolute", cross=False, **kwargs):
    model = bert_flax.FlaxBertForCausalLM(
        tiny_config(is_decoder=True, add_cross_attention=cross, position_embedding_type=pos), **kwargs)
    sd = model.schema_state_dict()  # relative position terms large enough for an offset error to show
    model.load_schema_state_dict({k: v * 20 if "distance_embedding" in k else v for k, v in sd.items()})
    return model


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("pos", POSITIONS)
def test_cached_decoding_equals_full_pass(pos, cross):
    model = _decoder(pos, cross)
    inputs = head_inputs("BertLMHeadModel", batch=2, seq=9)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    extra = {}
    if cross:
        extra = dict(encoder_hidden_states=np.random.default_rng(1).standard_normal((2, 5, 32)).astype(np.float32),
                     encoder_attention_mask=np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))
    full = model(ids, attention_mask=mask, **extra).logits
    cache = model.init_cache(2, 12)
    out = model(ids[:, :4], attention_mask=mask[:, :4], past_key_values=cache, **extra)
    steps, cache = [out.logits], out.past_key_values
    for t in range(4, 9):  # the mask of every token so far (torch style); the cache-length mask works too
        step_mask = mask[:, :t + 1] if t % 2 else np.pad(mask[:, :t + 1], ((0, 0), (0, 12 - t - 1)))
        out = model(ids[:, t:t + 1], attention_mask=step_mask, past_key_values=cache, **extra)
        steps.append(out.logits)
        cache = out.past_key_values
    assert max_diff(np.concatenate(steps, axis=1), full) <= ATOL


@pytest.mark.parametrize("scan", [False, True])
def test_cache_chunks_without_mask_and_under_jit(scan):
    model = _decoder("relative_key_query", scan_layers=scan)
    ids = head_inputs("BertLMHeadModel", batch=2, seq=9)["input_ids"]
    full = model(ids).logits
    first = model(ids[:, :3], past_key_values=model.init_cache(2, 9))
    second = model(ids[:, 3:], past_key_values=first.past_key_values)
    assert max_diff(np.concatenate([first.logits, second.logits], 1), full) <= ATOL

    @jax.jit
    def step(params, cache, tokens):
        out = model(tokens, params=params, past_key_values=cache)
        return out.logits, out.past_key_values

    logits, cache = step(model.params, model.init_cache(2, 9), ids[:, :3])
    logits2, _ = step(model.params, cache, ids[:, 3:6])
    assert max_diff(np.concatenate([logits, logits2], 1), full[:, :6]) <= ATOL


def test_cache_overflow_and_bad_mask_raise():
    model = _decoder()
    ids = head_inputs("BertLMHeadModel", batch=2, seq=6)["input_ids"]
    cache = model(ids[:, :4], past_key_values=model.init_cache(2, 5)).past_key_values
    with pytest.raises(ValueError, match="max_length"):
        model(ids[:, 4:6], past_key_values=cache)
    with pytest.raises(ValueError, match="attention_mask"):
        model(ids[:, 4:5], attention_mask=np.ones((2, 3)), past_key_values=cache)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.init_cache(1, 65)


def _flat(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}{k}/") if isinstance(v, dict) else {prefix + k: v})
    return out


@pytest.mark.parametrize("remat", [False, True])
@pytest.mark.parametrize("head", ["BertForPreTraining", "BertForQuestionAnswering"])
def test_scan_and_remat_equal_loop(head, remat, tmp_path):
    config = tiny_config(position_embedding_type="relative_key", num_labels=2)
    loop = bert_flax.MODEL_CLASSES[head](config)
    other = bert_flax.MODEL_CLASSES[head](config, scan_layers=True, gradient_checkpointing=remat, seed=3)
    other.load_schema_state_dict(loop.schema_state_dict())
    stacked = _flat(other.params)
    assert stacked["bert/encoder/layer/attention/self/query/kernel"].shape == (2, 32, 32)
    inputs = head_inputs(head)
    labels = head_labels(head, inputs, config)
    kw = dict(output_hidden_states=True, output_attentions=True)
    a, b = loop(**inputs, **labels, **kw), other(**inputs, **labels, **kw)
    for field in a.keys():
        for x, y in zip(jax.tree_util.tree_leaves(a[field]), jax.tree_util.tree_leaves(b[field])):
            assert max_diff(x, y) <= ATOL, field
    ga = loop.schema_state_dict(jax.grad(lambda p: loop(**inputs, **labels, params=p).loss)(loop.params))
    gb = other.schema_state_dict(jax.grad(lambda p: other(**inputs, **labels, params=p).loss)(other.params))
    assert set(ga) == set(gb)
    for k in ga:
        assert max_diff(ga[k], gb[k]) <= 1e-4 * float(np.abs(ga[k]).max()) + 1e-7, k
    # scanned parameters save in the per-layer layout and load into a looped model
    other.save_pretrained(tmp_path)
    back = bert_flax.MODEL_CLASSES[head].from_pretrained(tmp_path)
    assert set(_flat(back.params)) == set(_flat(loop.params))
    assert max_diff(back(**inputs).to_tuple()[0], a.to_tuple()[1]) <= ATOL


def test_remat_loop_matches_grads():
    config = tiny_config()
    plain = bert_flax.FlaxBertForMaskedLM(config)
    remat = bert_flax.FlaxBertForMaskedLM(config, gradient_checkpointing=True)
    remat.params = plain.params
    inputs = head_inputs("BertForMaskedLM")
    labels = head_labels("BertForMaskedLM", inputs, config)
    ga = jax.grad(lambda p: plain(**inputs, **labels, params=p).loss)(plain.params)
    gb = jax.grad(lambda p: remat(**inputs, **labels, params=p).loss)(plain.params)
    for x, y in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb)):
        assert max_diff(x, y) <= 1e-6


def test_bfloat16_compute_and_params():
    config = tiny_config()
    f32 = bert_flax.FlaxBertForSequenceClassification(config)
    bf = bert_flax.FlaxBertForSequenceClassification(config, dtype=jnp.bfloat16)
    bf.params = f32.params
    inputs = head_inputs("BertForSequenceClassification")
    a, b = f32(**inputs).logits, bf(**inputs).logits
    assert b.dtype == jnp.bfloat16 and max_diff(a, b) < 0.05
    stored = bert_flax.FlaxBertForSequenceClassification(config, param_dtype=jnp.bfloat16)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree_util.tree_leaves(stored.params))
    loss = stored(**inputs, labels=np.array([0, 1, 2])).loss
    assert loss.dtype == jnp.float32 and np.isfinite(float(loss))


def test_input_checks_raise_on_host():
    model = bert_flax.FlaxBertModel(tiny_config())
    ids = np.ones((2, 5), np.int32)
    with pytest.raises(ValueError, match="input_ids contains 99"):
        model(np.full((2, 5), 99))
    with pytest.raises(ValueError, match="input_ids contains -1"):
        model(np.full((2, 5), -1))
    with pytest.raises(ValueError, match="token_type_ids contains 2"):
        model(ids, token_type_ids=np.full((2, 5), 2))
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model(np.ones((1, 65), np.int32))
    with pytest.raises(TypeError, match="unexpected arguments"):
        model(ids, labels=ids)
    # traced inputs (inside the user's jit) skip the host checks and still run
    assert jax.jit(lambda x: model(x).last_hidden_state)(ids).shape == (2, 5, 32)


def test_dropout_in_training():
    config = tiny_config(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    model = bert_flax.FlaxBertForMaskedLM(config)
    inputs = head_inputs("BertForMaskedLM")
    rng = jax.random.PRNGKey(7)
    a = model(**inputs, train=True, dropout_rng=rng).logits
    b = model(**inputs, train=True, dropout_rng=rng).logits
    c = model(**inputs).logits
    assert max_diff(a, b) == 0 and max_diff(a, c) > 1e-3 and max_diff(c, model(**inputs).logits) == 0


def test_return_dict_false_and_do_init_false():
    model, params = bert_flax.FlaxBertForMaskedLM.from_pretrained(TINY / "BertForMaskedLM" / "flax", _do_init=False)
    with pytest.raises(ValueError, match="_do_init=False"):
        model.params  # noqa: B018
    inputs = head_inputs("BertForMaskedLM")
    out = model(**inputs, params=params, return_dict=False)
    assert isinstance(out, tuple) and out[0].shape == (3, 11, 99)
    assert "FlaxBertForMaskedLM(BertConfig(" in repr(model)


def test_mismatched_sizes_and_unused_names(caplog):
    model = bert_flax.FlaxBertForSequenceClassification(tiny_config(num_labels=4))
    sd = bert_flax.FlaxBertForSequenceClassification(tiny_config(num_labels=3)).schema_state_dict()
    from conversion import WeightMismatchError
    with pytest.raises(WeightMismatchError, match="classifier.weight"):
        model.load_schema_state_dict(sd)
    report = model.load_schema_state_dict({**sd, "extra.weight": np.zeros(2)}, ignore_mismatched_sizes=True)
    assert sorted(n for n, _, _ in report.mismatched) == ["classifier.bias", "classifier.weight"]
    assert report.unexpected == ["extra.weight"]
    model = bert_flax.FlaxBertForSequenceClassification.from_pretrained(TINY / "BertModel" / "flax", num_labels=3)
    assert "classifier.weight" in caplog.text  # newly initialised, named in the warning


def test_every_parameter_has_logical_axes():
    model = bert_flax.FlaxBertForPreTraining(tiny_config(position_embedding_type="relative_key"), scan_layers=True)
    specs = _flat(model.logical_partition_specs())
    shapes = _flat(model.params)
    assert set(specs) == set(shapes)
    known = {name for name, _ in bert_flax.DEFAULT_RULES}
    for path, spec in specs.items():
        assert len(spec) == shapes[path].ndim and set(spec) <= known, path
    assert tuple(specs["bert/encoder/layer/intermediate/dense/kernel"]) == ("layers", "embed", "mlp")


def test_generation_hooks_decode_greedily_like_full_passes():
    model = _decoder("relative_key_query")
    prompt = head_inputs("BertLMHeadModel", batch=2, seq=4)["input_ids"]
    kwargs = model.prepare_inputs_for_generation(prompt, max_length=8)
    out = model(prompt, **kwargs)
    tokens = prompt
    for _ in range(4):
        next_token = np.asarray(out.logits[:, -1:].argmax(-1))
        tokens = np.concatenate([tokens, next_token], axis=1)
        kwargs = model.update_inputs_for_generation(out, kwargs)
        out = model(next_token, **kwargs)
    full = np.asarray(model(tokens[:, :-1]).logits.argmax(-1))
    assert np.array_equal(full[:, 3:], tokens[:, 4:])
