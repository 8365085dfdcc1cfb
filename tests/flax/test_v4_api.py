"""transformers v4's Flax surface (issue 14): pytree outputs, ``module.apply`` outputs, explicit signatures,
``_do_init=False`` / ``init_weights`` / ``required_params``, the params setter, masked dtype casts, dtypes."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict, unflatten_dict

import bert_flax
from tests.conftest import HEADS
from tests.flax.helpers import head_inputs, max_diff, tiny_config


@pytest.fixture(scope="module")
def mlm():
    return bert_flax.FlaxBertForMaskedLM(tiny_config())


def test_outputs_are_pytrees_under_jit_vmap_scan(mlm):
    ids = head_inputs("BertForMaskedLM", batch=2, seq=5)["input_ids"]
    out = jax.jit(lambda p, x: mlm(x, params=p, output_hidden_states=True))(mlm.params, ids)
    assert isinstance(out, bert_flax.FlaxMaskedLMOutput) and len(out.hidden_states) == 3
    assert max_diff(out.logits, mlm(ids).logits) <= 1e-5
    rows = jax.vmap(lambda x: mlm.module.apply({"params": mlm.params}, x[None]))(ids)
    assert rows.logits.shape == (2, 1, 5, 99)

    def step(carry, x):
        return carry, mlm.module.apply({"params": mlm.params}, x[None])

    _, stacked = jax.lax.scan(step, 0, ids)
    assert max_diff(stacked.logits[:, 0], out.logits) <= 1e-5
    leaves, tree = jax.tree_util.tree_flatten(out)
    assert isinstance(jax.tree_util.tree_unflatten(tree, leaves), bert_flax.FlaxMaskedLMOutput)


@pytest.mark.parametrize("head", HEADS)
def test_module_apply_returns_the_wrappers_outputs(head):
    cfg = tiny_config(is_decoder=head == "BertLMHeadModel", num_labels=2 if head == "BertForQuestionAnswering" else 3)
    model = bert_flax.MODEL_CLASSES[head](cfg)
    inputs = head_inputs(head, batch=2, seq=5)
    wrapped = model(**inputs)
    applied = model.module.apply({"params": model.params}, **inputs)
    assert type(applied) is type(wrapped) is model.output_class
    assert type(wrapped).__name__.startswith("Flax")
    assert max_diff(applied[0], wrapped[0]) <= 1e-5
    as_tuple = model.module.apply({"params": model.params}, **inputs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(model(**inputs, return_dict=False))
    if head == "BertModel":  # v4's positional order: (input_ids, attention_mask, token_type_ids, position_ids)
        positional = model.module.apply({"params": model.params}, inputs["input_ids"], inputs["attention_mask"],
                                        inputs["token_type_ids"])
        assert max_diff(positional.pooler_output, wrapped.pooler_output) <= 1e-5


def test_explicit_signatures_and_v4_names():
    for head, cls in bert_flax.MODEL_CLASSES.items():
        params = inspect.signature(cls.__call__).parameters
        kinds = {p.kind for p in params.values()}
        assert inspect.Parameter.VAR_POSITIONAL not in kinds and inspect.Parameter.VAR_KEYWORD not in kinds, head
        assert list(params)[1:3] == ["input_ids", "attention_mask"]
        assert set(cls.label_names) <= set(params) and "past_key_values" in params
        assert cls.base_model_prefix == "bert" and cls.module_class.__name__.startswith("FlaxBert")
        assert cls.can_generate() == (cls is bert_flax.FlaxBertForCausalLM)
        module_params = list(inspect.signature(cls.module_class.__call__).parameters)
        assert module_params[1:3] == ["input_ids", "attention_mask"] and "return_dict" in module_params
    assert list(inspect.signature(bert_flax.FlaxBertForCausalLMModule.__call__).parameters)[3] == "position_ids"


def test_do_init_false_init_weights_and_required_params():
    cfg = tiny_config()
    model = bert_flax.FlaxBertForSequenceClassification(cfg, _do_init=False)
    with pytest.raises(ValueError, match="_do_init=False"):
        model.params  # noqa: B018
    params = model.init_weights(model.key, model.input_shape)
    flat = flatten_dict(params)
    assert model.required_params == set(flat)
    for path, shape in flatten_dict(model.params_shape_tree).items():
        assert flat[path].shape == shape.shape
    ids = head_inputs("BertForSequenceClassification", batch=2, seq=5)["input_ids"]
    out = model(ids, params=params, output_hidden_states=True)
    assert out.logits.shape == (2, cfg.num_labels)
    kept = model.init_weights(jax.random.PRNGKey(1), (1, 1), params={"classifier": {"bias": jnp.ones(3)}})
    assert float(kept["classifier"]["bias"].sum()) == 3.0  # given entries kept, the rest drawn
    assert set(flatten_dict(kept)) == model.required_params


def test_params_setter_checks_keys(mlm):
    model = bert_flax.FlaxBertForMaskedLM(mlm.config)
    flat = flatten_dict(mlm.params)
    missing = unflatten_dict({k: v for k, v in flat.items() if k[-1] != "bias"})
    with pytest.raises(ValueError, match="missing"):
        model.params = missing
    with pytest.raises(ValueError, match="1 unexpected .*extra/kernel"):
        model.params = unflatten_dict({**flat, ("extra", "kernel"): jnp.zeros(2)})
    model.params = mlm.params
    assert max_diff(model(np.array([[1, 2]])).logits, mlm(np.array([[1, 2]])).logits) == 0.0


@pytest.mark.parametrize("method, dtype", [("to_bf16", jnp.bfloat16), ("to_fp16", jnp.float16),
                                           ("to_fp32", jnp.float32)])
def test_dtype_casts_with_v4_masks(mlm, method, dtype):
    cast = getattr(mlm, method)
    start = mlm.to_fp16(mlm.params) if dtype == jnp.float32 else mlm.params
    assert {v.dtype for v in flatten_dict(cast(start)).values()} == {jnp.dtype(dtype)}
    flat = flatten_dict(start)
    key = sorted(flat)[3]
    mask = unflatten_dict({path: path != key for path in flat})  # v4: True = cast, False = leave as is
    types = {k: v.dtype for k, v in flatten_dict(cast(start, mask)).items()}
    assert types.pop(key) == flat[key].dtype and set(types.values()) == {jnp.dtype(dtype)}
    with pytest.raises(ValueError, match="structure of params"):
        cast(start, {"bert": True})


def test_dtype_is_computation_param_dtype_is_storage():
    cfg = tiny_config()
    model = bert_flax.FlaxBertForMaskedLM(cfg, dtype=jnp.bfloat16)
    assert {v.dtype for v in flatten_dict(model.params).values()} == {jnp.dtype(jnp.float32)}
    assert model(np.array([[1, 2, 3]])).logits.dtype == jnp.bfloat16
    stored = bert_flax.FlaxBertForMaskedLM(cfg, param_dtype=jnp.bfloat16)
    assert {v.dtype for v in flatten_dict(stored.params).values()} == {jnp.dtype(jnp.bfloat16)}
