"""``FlaxBertPreTrainedModel``: holds ``params`` and calls a Linen module the way transformers v4's Flax classes did.

Inputs are checked on the host (``bert_core.checks``) before a cached ``jax.jit`` of the forward pass runs, so
the compiled code carries no checks. Called inside a user's ``jit``/``grad`` (traced inputs or params), the
module is applied directly and the host checks are skipped.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bert_core.checks import check_model_inputs
from bert_core.config import BertConfig
from bert_core.heads import infer_problem_type
from bert_flax import losses
from bert_flax import partitioning as P
from bert_flax.checkpoint import CheckpointMixin


def _is_traced(*xs: Any) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in xs)


def _cache_leaves(cache: Any) -> tuple[Any, int]:
    """(the first ``cache_index`` leaf, the cache length) of a cache tree from ``init_cache``."""
    flat = {"/".join(str(getattr(k, "key", k)) for k in path): v
            for path, v in jax.tree_util.tree_leaves_with_path(cache)}
    index = next((v for k, v in flat.items() if k.endswith("cache_index")), None)
    key = next((v for k, v in flat.items() if k.endswith("cached_key")), None)
    if index is None or key is None:
        raise ValueError("past_key_values is not a cache from model.init_cache(batch_size, max_length).")
    return index, int(key.shape[-3])


class FlaxBertPreTrainedModel(CheckpointMixin):
    """Base of the Flax wrappers: parameters, call signature, cache, sharding helpers."""

    module_class: type[nn.Module]
    output_class: type
    head: str = "BertModel"
    label_names: tuple[str, ...] = ()

    def __init__(self, config: BertConfig, input_shape: tuple[int, ...] = (1, 1), seed: int = 0,
                 dtype: Any = jnp.float32, param_dtype: Any = jnp.float32, _do_init: bool = True,
                 gradient_checkpointing: bool = False, scan_layers: bool = False, **kwargs: Any) -> None:
        if config.add_cross_attention and not config.is_decoder:
            raise ValueError("add_cross_attention=True needs is_decoder=True (cross attention is a decoder layer).")
        self.config = config
        self.dtype, self.param_dtype = dtype, param_dtype
        self.input_shape, self.seed = tuple(input_shape), seed
        self.gradient_checkpointing, self.scan_layers = gradient_checkpointing, scan_layers
        self.module = self.module_class(config, dtype=dtype, param_dtype=param_dtype,
                                        gradient_checkpointing=gradient_checkpointing, scan_layers=scan_layers,
                                        **kwargs)
        self.key = jax.random.PRNGKey(seed)
        self._jitted: dict[tuple, Any] = {}
        self._params = self.init_weights(jax.random.PRNGKey(seed), self.input_shape) if _do_init else None

    # -- parameters -----------------------------------------------------------------------------------------
    def _dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Any]:
        ids = jnp.zeros(input_shape, jnp.int32)
        inputs = dict(input_ids=ids, attention_mask=jnp.ones_like(ids), token_type_ids=jnp.zeros_like(ids),
                      position_ids=jnp.broadcast_to(jnp.arange(input_shape[-1]), input_shape))
        if self.config.add_cross_attention:
            batch = int(np.prod(input_shape[:-1]))
            inputs["encoder_hidden_states"] = jnp.zeros((batch, input_shape[-1], self.config.hidden_size))
            inputs["encoder_attention_mask"] = jnp.ones((batch, input_shape[-1]), jnp.int32)
        return inputs

    def _init_variables(self, rng: Any, input_shape: tuple[int, ...]) -> dict:
        params_rng, dropout_rng = jax.random.split(rng)
        return self.module.init({"params": params_rng, "dropout": dropout_rng}, **self._dummy_inputs(input_shape))

    def init_weights(self, rng: Any, input_shape: tuple[int, ...] = (1, 1), params: dict | None = None) -> dict:
        """Fresh parameters (plain arrays); entries of ``params``, if given, are kept.

        BERT's initialisation (normal(initializer_range) kernels and embeddings, zero biases, unit LayerNorm
        scales) is drawn with numpy from a seed taken from ``rng``: compiling Flax's initialisers with XLA takes
        seconds even for a tiny model, drawing them on the host takes milliseconds.
        """
        from flax.traverse_util import flatten_dict, unflatten_dict

        shapes = flatten_dict(self.param_shapes(input_shape))
        key = rng if not jnp.issubdtype(getattr(rng, "dtype", None), jax.dtypes.prng_key) else jax.random.key_data(rng)
        gen = np.random.default_rng(np.asarray(key).astype(np.uint32).ravel().tolist())
        std = self.config.initializer_range
        new = {}
        for path, s in sorted(shapes.items()):
            if path[-1] in ("kernel", "embedding"):
                value = gen.normal(0.0, std, size=s.shape).astype(np.float32)
            elif path[-1] == "scale":
                value = np.ones(s.shape, np.float32)
            else:
                value = np.zeros(s.shape, np.float32)
            new[path] = jnp.asarray(value, dtype=s.dtype)
        if params is not None:
            new.update(flatten_dict(params))
        return unflatten_dict(new)

    def param_shapes(self, input_shape: tuple[int, ...] | None = None) -> dict:
        """The parameter tree as ``jax.ShapeDtypeStruct`` s (traced, nothing computed)."""
        shape = tuple(input_shape or self.input_shape)
        return jax.eval_shape(lambda: nn.meta.unbox(self._init_variables(jax.random.PRNGKey(0), shape)["params"]))

    @property
    def params(self) -> dict:
        if self._params is None:
            raise ValueError("This model was built with _do_init=False and holds no params; pass params=... to "
                             "each call or load them with load_schema_state_dict / from_pretrained.")
        return self._params

    @params.setter
    def params(self, params: dict) -> None:
        self._params = params

    def _cast(self, params: dict | None, dtype: Any) -> dict:
        params = self.params if params is None else params
        return jax.tree_util.tree_map(
            lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)

    def to_bf16(self, params: dict | None = None) -> dict:
        """``params`` (default the model's) cast to bfloat16, as transformers' ``to_bf16``; returns a new tree."""
        return self._cast(params, jnp.bfloat16)

    def to_fp16(self, params: dict | None = None) -> dict:
        return self._cast(params, jnp.float16)

    def to_fp32(self, params: dict | None = None) -> dict:
        return self._cast(params, jnp.float32)

    def enable_gradient_checkpointing(self) -> None:
        """Rebuild the module with ``nn.remat`` around each layer (same parameters)."""
        self.gradient_checkpointing = True
        self.module = self.module.clone(gradient_checkpointing=True)
        self._jitted.clear()

    def logical_partition_specs(self) -> dict:
        """The parameters' logical axis names as a tree of ``PartitionSpec`` (no arrays are computed)."""
        boxed = jax.eval_shape(lambda: self._init_variables(jax.random.PRNGKey(0), self.input_shape))
        return nn.get_partition_spec(boxed)["params"]

    def param_shardings(self, mesh: jax.sharding.Mesh, rules=None) -> dict:
        """``NamedSharding`` per parameter for ``mesh`` (axes "data", "model"), by ``P.DEFAULT_RULES`` or ``rules``."""
        return P.param_shardings(self.logical_partition_specs(), self.param_shapes(), mesh, rules)

    def shard_params(self, mesh: jax.sharding.Mesh, rules=None, params: dict | None = None) -> dict:
        """Place ``params`` (default: the model's) on ``mesh``; returns the sharded tree (model.params unchanged)."""
        return jax.device_put(self.params if params is None else params, self.param_shardings(mesh, rules))

    def init_cache(self, batch_size: int, max_length: int) -> dict:
        """An empty key/value cache for ``max_length`` tokens, to pass as ``past_key_values``."""
        if max_length > self.config.max_position_embeddings:
            raise ValueError(f"max_length={max_length} exceeds max_position_embeddings="
                             f"{self.config.max_position_embeddings}.")
        inputs = self._dummy_inputs((batch_size, max_length))
        shapes = jax.eval_shape(lambda: self.module.init(jax.random.PRNGKey(0), **inputs, init_cache=True))
        return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), nn.meta.unbox(shapes["cache"]))

    # -- call ------------------------------------------------------------------------------------------------
    def _loss(self, out: dict, labels: dict, static: dict):
        raise TypeError(f"{type(self).__name__} takes no labels.")

    def _static_loss_info(self, labels: dict) -> tuple:
        return ()

    def _apply(self, params, cache, rngs, inputs, labels, *, train, output_attentions, output_hidden_states,
               loss_info):
        variables = {"params": params}
        kwargs = dict(deterministic=not train, output_attentions=output_attentions,
                      output_hidden_states=output_hidden_states)
        if cache is not None:
            variables["cache"] = cache
            if inputs["position_ids"] is None:  # continue after the cached tokens
                index = jnp.asarray(_cache_leaves(cache)[0]).reshape(-1)[0]
                shape = inputs["input_ids"].shape
                inputs = {**inputs, "position_ids": jnp.broadcast_to(index + jnp.arange(shape[-1]), shape)}
            out, mutated = self.module.apply(variables, **inputs, **kwargs, rngs=rngs, mutable=["cache"])
            out["past_key_values"] = mutated["cache"]
        else:
            out = self.module.apply(variables, **inputs, **kwargs, rngs=rngs)
        if labels:
            out["loss"] = self._loss(out, labels, loss_info)
        return out

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 encoder_hidden_states=None, encoder_attention_mask=None, params: dict | None = None,
                 dropout_rng: Any = None, train: bool = False, output_attentions: bool | None = None,
                 output_hidden_states: bool | None = None, return_dict: bool | None = None,
                 past_key_values: dict | None = None, **labels: Any):
        cfg = self.config
        unknown = sorted(set(labels) - set(self.label_names))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {unknown}; labels it takes: "
                            f"{list(self.label_names) or 'none'}.")
        labels = {k: v for k, v in labels.items() if v is not None}
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = cfg.return_dict if return_dict is None else return_dict
        params = self.params if params is None else params
        traced = _is_traced(input_ids, attention_mask, jax.tree_util.tree_leaves(params)[0])
        shape = tuple(input_ids.shape)
        past_len = max_len = 0
        if past_key_values is not None:
            index, max_len = _cache_leaves(past_key_values)
            past_len = None if _is_traced(index) else int(np.asarray(index).reshape(-1)[0])
            if past_len is not None and past_len + shape[-1] > max_len:
                raise ValueError(f"{past_len} cached + {shape[-1]} new tokens exceed the cache's max_length="
                                 f"{max_len}; make a longer cache with init_cache.")
        if not traced:
            check_model_inputs(cfg, np.asarray(input_ids), None if token_type_ids is None else
                               np.asarray(token_type_ids), None if position_ids is None else np.asarray(position_ids),
                               seq_len=shape[-1], past_len=past_len or 0)
        # defaults are host arrays: no eager device work per call
        if token_type_ids is None:
            token_type_ids = np.zeros(shape, np.int32)
        if position_ids is None and past_key_values is None:
            position_ids = np.broadcast_to(np.arange(shape[-1], dtype=np.int32), shape)  # with a cache: in _apply
        if past_key_values is not None:
            attention_mask = self._cache_mask(attention_mask, shape, max_len, past_len)
        elif attention_mask is None:
            attention_mask = np.ones(shape, np.int32)
        if head_mask is not None:
            head_mask = jnp.asarray(head_mask)
            if head_mask.ndim == 1:
                head_mask = jnp.broadcast_to(head_mask, (cfg.num_hidden_layers, head_mask.shape[0]))
        inputs = dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                      position_ids=position_ids, head_mask=head_mask, encoder_hidden_states=encoder_hidden_states,
                      encoder_attention_mask=encoder_attention_mask)
        rngs = {}
        if train:
            if dropout_rng is None:
                self.key, dropout_rng = jax.random.split(self.key)
            rngs["dropout"] = dropout_rng
        static = dict(train=bool(train), output_attentions=bool(output_attentions),
                      output_hidden_states=bool(output_hidden_states), loss_info=self._static_loss_info(labels))
        if traced:
            out = self._apply(params, past_key_values, rngs, inputs, labels, **static)
        else:
            key = tuple(sorted(static.items())) + (past_key_values is None, tuple(sorted(labels)))
            if key not in self._jitted:
                self._jitted[key] = jax.jit(functools.partial(self._apply, **static))
            out = self._jitted[key](params, past_key_values, rngs, inputs, labels)
        fields = {f.name: out.get(f.name) for f in dataclasses.fields(self.output_class)}
        result = self.output_class(**fields)
        return result if return_dict else result.return_tuple()

    @staticmethod
    def _cache_mask(attention_mask, shape, max_len, past_len):
        """The mask over the whole cache: given as is, or padded from the tokens seen so far."""
        if attention_mask is None:
            return jnp.ones((shape[0], max_len), jnp.int32)
        length = attention_mask.shape[-1]
        if length == max_len:
            return attention_mask
        if past_len is None or length != past_len + shape[-1]:
            raise ValueError(f"attention_mask has {length} columns; with a cache give the mask of all tokens so "
                             f"far ({(past_len or 0) + shape[-1]}) or of the whole cache ({max_len}).")
        return jnp.pad(jnp.asarray(attention_mask), ((0, 0), (0, max_len - length)))

    def __repr__(self) -> str:
        extras = "".join(f", {k}=True" for k in ("gradient_checkpointing", "scan_layers") if getattr(self, k))
        dtype = jnp.dtype(self.dtype).name
        return f"{type(self).__name__}({self.config!r}, dtype={dtype}{extras})"
