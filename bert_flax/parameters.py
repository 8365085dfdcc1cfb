"""``ParamsMixin``: a Flax wrapper's parameters as transformers v4 handled them.

Fresh weights (``init_weights``, drawn on the host), their shapes (``param_shapes`` / ``params_shape_tree`` /
``required_params``, computed abstractly), the checked ``params`` setter, dtype casts with v4's masks
(``to_bf16`` / ``to_fp16`` / ``to_fp32``) and the sharding helpers over the parameters' logical axis names.
"""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from bert_flax import partitioning as P


def _unfreeze(tree: Any) -> Any:
    return flax.core.unfreeze(tree) if isinstance(tree, flax.core.FrozenDict) else tree


class ParamsMixin:
    """Parameter handling shared by every ``FlaxBertPreTrainedModel``."""

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
    def params_shape_tree(self) -> dict:
        """The parameter tree as ``jax.ShapeDtypeStruct`` s for ``self.input_shape`` (computed once, abstractly)."""
        if self._shape_tree is None:
            self._shape_tree = self.param_shapes()
        return self._shape_tree

    @property
    def required_params(self) -> set[tuple[str, ...]]:
        """The paths (tuples of names) every params tree of this model must hold."""
        return set(flatten_dict(self.params_shape_tree))

    @property
    def params(self) -> dict:
        if self._params is None:
            raise ValueError("This model was built with _do_init=False and holds no params; call "
                             "model.init_weights(model.key, model.input_shape) and pass params=... to each call, or "
                             "load them with from_pretrained / load_schema_state_dict.")
        return self._params

    @params.setter
    def params(self, params: dict) -> None:
        """Set the parameters; a tree with missing or extra paths raises (listing them)."""
        params = _unfreeze(params)
        keys, required = set(flatten_dict(params)), self.required_params
        missing, extra = sorted(required - keys), sorted(keys - required)
        if missing or extra:
            show = lambda paths: ", ".join("/".join(p) for p in paths[:8]) + (" ..." if len(paths) > 8 else "")  # noqa
            raise ValueError(f"params do not fit {type(self).__name__}: {len(missing)} missing ({show(missing)}), "
                             f"{len(extra)} unexpected ({show(extra)}). Build them with model.init_weights or "
                             "load them with from_pretrained.")
        self._params = params
        self._jitted.clear()

    def _cast_floating_to(self, params: dict | None, dtype: Any, mask: Any = None) -> dict:
        """Cast the floating leaves of ``params`` (default: the model's) to ``dtype``; with ``mask`` (a tree of the
        same structure holding booleans) only the leaves where it is True. Returns a new tree."""
        params = self.params if params is None else params
        params = _unfreeze(params)

        def cast(x, keep=True):
            return x.astype(dtype) if keep and jnp.issubdtype(x.dtype, jnp.floating) else x

        if mask is None:
            return jax.tree_util.tree_map(cast, params)
        mask = _unfreeze(mask)
        flat, flat_mask = flatten_dict(params), flatten_dict(mask)
        if set(flat) != set(flat_mask):
            raise ValueError("mask must have the structure of params (a boolean per parameter), e.g. "
                             "unflatten_dict({path: path[-1] != 'bias' for path in flatten_dict(params)}).")
        return unflatten_dict({k: cast(v, bool(flat_mask[k])) for k, v in flat.items()})

    def to_bf16(self, params: dict | None = None, mask: Any = None) -> dict:
        """``params`` cast to bfloat16 where ``mask`` is True (everything floating without a mask), as
        transformers' ``to_bf16``: ``model.params = model.to_bf16(model.params)``. Returns a new tree."""
        return self._cast_floating_to(params, jnp.bfloat16, mask)

    def to_fp16(self, params: dict | None = None, mask: Any = None) -> dict:
        """``params`` cast to float16 where ``mask`` is True (see ``to_bf16``)."""
        return self._cast_floating_to(params, jnp.float16, mask)

    def to_fp32(self, params: dict | None = None, mask: Any = None) -> dict:
        """``params`` cast to float32 where ``mask`` is True (see ``to_bf16``)."""
        return self._cast_floating_to(params, jnp.float32, mask)

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
