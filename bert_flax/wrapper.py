"""``FlaxBertPreTrainedModel``: holds ``params`` and calls a Linen module the way transformers v4's Flax classes did.

Inputs are checked on the host (``bert_core.checks``) before a cached ``jax.jit`` of the forward pass runs, so
the compiled code carries no checks. Called inside a user's ``jit``/``grad`` (traced inputs or params), the
module is applied directly and the host checks are skipped. transformers v4's surface: ``module_class``,
``base_model_prefix``, ``_do_init=False`` with ``init_weights`` / ``required_params`` / ``params_shape_tree``,
``to_bf16`` / ``to_fp16`` / ``to_fp32`` with masks, ``init_cache``, ``can_generate``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bert_core.checks import check_model_inputs
from bert_core.config import BertConfig
from bert_core.heads import HEADS_BY_NAME
from bert_flax import inputs as I
from bert_flax import outputs as flax_outputs
from bert_flax.checkpoint import CheckpointMixin
from bert_flax.parameters import ParamsMixin


class FlaxBertPreTrainedModel(ParamsMixin, CheckpointMixin):
    """Base of the Flax wrappers: parameters, call signature, cache, sharding helpers."""

    module_class: type[nn.Module]
    output_class: type
    head: str = "BertModel"
    label_names: tuple[str, ...] = ()
    base_model_prefix: str = "bert"
    main_input_name: str = "input_ids"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each head's ``__call__`` an explicit signature: v4's arguments, then its own label names (from the
        head table, ``bert_core.heads``)."""
        super().__init_subclass__(**kwargs)
        cls.label_names = HEADS_BY_NAME[cls.head].label_names
        cls.output_class = getattr(flax_outputs, "Flax" + HEADS_BY_NAME[cls.head].output_class)
        base = FlaxBertPreTrainedModel.__call__
        sig = inspect.signature(base)
        params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in cls.label_names]

        @functools.wraps(base)
        def __call__(self, *args, **kw):
            return base(self, *args, **kw)

        __call__.__signature__ = sig.replace(parameters=params)
        __call__.__qualname__ = f"{cls.__name__}.__call__"
        cls.__call__ = __call__

    def __init__(self, config: BertConfig, input_shape: tuple[int, ...] = (1, 1), seed: int = 0,
                 dtype: Any = jnp.float32, param_dtype: Any = jnp.float32, _do_init: bool = True,
                 gradient_checkpointing: bool = False, scan_layers: bool = False, **kwargs: Any) -> None:
        if config.add_cross_attention and not config.is_decoder:
            raise ValueError("add_cross_attention=True needs is_decoder=True (cross attention is a decoder layer).")
        config.validate_for_model()  # what only a model can reject (hidden_size divisible by the heads), as v4
        self.config = config
        self.dtype, self.param_dtype = dtype, param_dtype
        self.input_shape, self.seed = tuple(input_shape), seed
        self.gradient_checkpointing, self.scan_layers = gradient_checkpointing, scan_layers
        self.module = self.module_class(config, dtype=dtype, param_dtype=param_dtype,
                                        gradient_checkpointing=gradient_checkpointing, scan_layers=scan_layers,
                                        **kwargs)
        self.key = jax.random.PRNGKey(seed)
        self._jitted: dict[tuple, Any] = {}
        self._shape_tree: dict | None = None
        self._params = self.init_weights(jax.random.PRNGKey(seed), self.input_shape) if _do_init else None

    @classmethod
    def can_generate(cls) -> bool:
        """Whether ``generate()`` works (the causal LM only), as transformers' ``can_generate``."""
        return callable(getattr(cls, "generate", None))

    @property
    def _is_initialized(self) -> bool:
        return self._params is not None

    def enable_gradient_checkpointing(self) -> None:
        """Rebuild the module with ``nn.remat`` around each layer (same parameters)."""
        self.gradient_checkpointing = True
        self.module = self.module.clone(gradient_checkpointing=True)
        self._jitted.clear()

    def init_cache(self, batch_size: int, max_length: int) -> dict:
        """An empty key/value cache for ``max_length`` tokens, to pass as ``past_key_values``."""
        if max_length > self.config.max_position_embeddings:
            raise ValueError(f"max_length={max_length} exceeds max_position_embeddings="
                             f"{self.config.max_position_embeddings}.")
        inputs = self._dummy_inputs((batch_size, max_length))
        shapes = jax.eval_shape(lambda: self.module.init(jax.random.PRNGKey(0), **inputs, init_cache=True))
        return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), nn.meta.unbox(shapes["cache"]))

    # -- call ------------------------------------------------------------------------------------------------
    def _loss(self, out, labels: dict, static: tuple):
        raise TypeError(f"{type(self).__name__} takes no labels.")

    def _static_loss_info(self, labels: dict) -> tuple:
        return ()

    def _label_ranges(self, labels: dict, input_shape: tuple[int, ...], info: tuple) -> dict[str, tuple[int, str]]:
        """label name -> (number of classes, where it comes from) for the host-side range check."""
        return {}

    def _check_config(self) -> None:
        """Raise if the config cannot serve this head (checked on each call)."""

    def _apply(self, params, cache, rngs, inputs, labels, *, train, output_attentions, output_hidden_states,
               loss_info):
        variables = {"params": params}
        kwargs = dict(deterministic=not train, output_attentions=output_attentions,
                      output_hidden_states=output_hidden_states)
        if cache is not None:
            variables["cache"] = cache
            if inputs["position_ids"] is None:  # continue after the cached tokens
                index = jnp.asarray(I.cache_leaves(cache)[0]).reshape(-1)[0]
                shape = inputs["input_ids"].shape
                inputs = {**inputs, "position_ids": jnp.broadcast_to(index + jnp.arange(shape[-1]), shape)}
            out, mutated = self.module.apply(variables, **inputs, **kwargs, rngs=rngs, mutable=["cache"])
            if "past_key_values" in out.__dataclass_fields__:  # heads without the field drop the cache, as v4
                out = dataclasses.replace(out, past_key_values=mutated["cache"])
        else:
            out = self.module.apply(variables, **inputs, **kwargs, rngs=rngs)
        if labels:
            out = dataclasses.replace(out, loss=self._loss(out, labels, loss_info))
        return out

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 encoder_hidden_states=None, encoder_attention_mask=None, params: dict | None = None,
                 dropout_rng: Any = None, train: bool = False, output_attentions: bool | None = None,
                 output_hidden_states: bool | None = None, return_dict: bool | None = None,
                 past_key_values: dict | None = None, **labels: Any):
        """The forward pass (transformers v4's Flax signature) plus the head's labels for a loss."""
        cfg = self.config
        self._check_config()
        input_ids, attention_mask, token_type_ids, position_ids = (  # lists, as v4's jnp.array(...) took them
            np.asarray(x) if isinstance(x, (list, tuple)) else x
            for x in (input_ids, attention_mask, token_type_ids, position_ids))
        unknown = sorted(set(labels) - set(self.label_names))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {unknown}; labels it takes: "
                            f"{list(self.label_names) or 'none'}.")
        labels = {k: v for k, v in labels.items() if v is not None}
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = cfg.return_dict if return_dict is None else return_dict
        params = self.params if params is None else params
        traced = I.is_traced(input_ids, attention_mask, jax.tree_util.tree_leaves(params)[0])
        shape = tuple(input_ids.shape)
        past_len = max_len = 0
        if past_key_values is not None:
            index, max_len = I.cache_leaves(past_key_values)
            past_len = None if I.is_traced(index) else int(np.asarray(index).reshape(-1)[0])
            if past_len is not None and past_len + shape[-1] > max_len:
                raise ValueError(f"{past_len} cached + {shape[-1]} new tokens exceed the cache's max_length="
                                 f"{max_len}; make a longer cache with init_cache.")
        loss_info = self._static_loss_info(labels)
        if not traced:
            I.check_integer_inputs(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids)
            check_model_inputs(cfg, np.asarray(input_ids), None if token_type_ids is None else
                               np.asarray(token_type_ids), None if position_ids is None else np.asarray(position_ids),
                               seq_len=shape[-1], past_len=past_len or 0)
            for name, (num, what) in self._label_ranges(labels, shape, loss_info).items():
                if name in labels and not I.is_traced(labels[name]):
                    I.check_labels_in_range(labels[name], num, name, what)
        # defaults are host arrays: no eager device work per call
        if token_type_ids is None:
            token_type_ids = np.zeros(shape, np.int32)
        if position_ids is None and past_key_values is None:
            position_ids = np.broadcast_to(np.arange(shape[-1], dtype=np.int32), shape)  # with a cache: in _apply
        if past_key_values is not None:
            attention_mask = I.cache_mask(attention_mask, shape, max_len, past_len)
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
                      output_hidden_states=bool(output_hidden_states), loss_info=loss_info)
        if traced:
            out = self._apply(params, past_key_values, rngs, inputs, labels, **static)
        else:
            key = tuple(sorted(static.items())) + (past_key_values is None, tuple(sorted(labels)))
            if key not in self._jitted:
                self._jitted[key] = jax.jit(functools.partial(self._apply, **static))
            out = self._jitted[key](params, past_key_values, rngs, inputs, labels)
        return out if return_dict else out.return_tuple()

    def __repr__(self) -> str:
        extras = "".join(f", {k}=True" for k in ("gradient_checkpointing", "scan_layers") if getattr(self, k))
        dtype = jnp.dtype(self.dtype).name
        return f"{type(self).__name__}({self.config!r}, dtype={dtype}{extras})"
