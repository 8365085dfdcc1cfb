"""The optimizer and the sharded, jitted train step of ``bert_flax.train``.

``build_optimizer``: ``optax.clip_by_global_norm`` then ``optax.adamw`` with ``bert_core.training``'s warmup +
linear decay schedule and no weight decay where ``bert_core.training.decays`` says so (judged on schema names
through ``conversion/names/flax.py``). ``state_shardings``: parameters sharded by their logical axis names
(``bert_flax.partitioning``) on a ``("data", "model")`` mesh, optimizer moments like their parameters.
``make_train_step``: one optimizer step over ``[accumulation, batch, ...]`` micro-batches (an explicit
``lax.scan``), jitted with those in / out shardings and the batch over ``"data"``. ``packed_pretraining_loss``:
the loss of packed rows (``bert_core.data.packing``), equal to that of the same examples unpacked.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.traverse_util import flatten_dict, unflatten_dict
from jax.sharding import NamedSharding, PartitionSpec

from bert_core.training import TrainingConfig, decays
from bert_flax.mesh import batch_spec
from conversion.names.flax import flax_path_to_schema


def learning_rate_schedule(config: TrainingConfig):
    """``bert_core.training.learning_rate_at`` as an optax schedule (``count`` = steps already taken)."""
    warmup, total, peak = config.warmup_steps, config.total_steps, config.learning_rate

    def schedule(count):
        step = jnp.asarray(count, jnp.float32)
        warm = step / max(1, warmup)
        decay = jnp.maximum(0.0, (total - step) / max(1, total - warmup))
        return peak * jnp.where(step < warmup, warm, decay)

    return schedule


def decay_mask(params: dict) -> dict:
    """True where AdamW weight decay applies (``bert_core.training.decays`` of the schema name; a scanned
    ``encoder/layer/...`` path has no layer index, which the rule does not look at)."""
    flat = flatten_dict(params)
    return unflatten_dict({k: decays(flax_path_to_schema("/".join(k))[0]) for k in flat})


def build_optimizer(params: dict, config: TrainingConfig) -> optax.GradientTransformation:
    """``clip_by_global_norm(max_grad_norm)`` (skipped when 0 / None), then AdamW with the schedule."""
    adamw = optax.adamw(learning_rate_schedule(config), b1=config.adam_beta1, b2=config.adam_beta2,
                        eps=config.adam_epsilon, weight_decay=config.weight_decay, mask=decay_mask(params))
    if not config.max_grad_norm:
        return adamw
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), adamw)


def state_shardings(model, tx: optax.GradientTransformation, mesh: jax.sharding.Mesh, rules=None) -> dict:
    """``{"params": ..., "opt_state": ...}`` ``NamedSharding`` trees: parameters by the logical-axis rules,
    Adam moments like their parameters, step counters replicated."""
    params = model.param_shardings(mesh, rules)
    replicated = NamedSharding(mesh, PartitionSpec())
    shapes = jax.eval_shape(tx.init, model.param_shapes())
    opt = optax.tree_utils.tree_map_params(tx, lambda _, s: s, shapes, params,
                                           transform_non_params=lambda _: replicated)
    # masked-out leaves (optax.MaskedNode) have no array; every other leaf is a sharding
    return {"params": params, "opt_state": opt}


def packed_pretraining_loss(model, params: dict, batch: dict, rng=None, train: bool = True):
    """MLM + NSP loss of packed rows (``example_ids``, ``position_ids``, ``cls_positions``, ``labels``,
    ``next_sentence_label`` ``[batch, k]`` with -100 in empty slots) for a ``FlaxBertForPreTraining``.

    Attention is block diagonal (a token sees only its own example's tokens; padding sees padding); the encoder
    and heads are the model's own modules on its parameters; NSP runs the pooler at each example's [CLS] and
    averages over the real examples; MLM averages over the labelled tokens of the batch, as unpacked.
    """
    from bert_flax import losses
    from bert_flax.heads import BertPreTrainingHeads
    from bert_flax.layers import BertPooler
    from bert_flax.modules import BertModule

    m, cfg = model.module, model.config
    kw = dict(dtype=m.dtype, param_dtype=m.param_dtype)
    ids = batch["example_ids"]
    mask = (ids[:, :, None] == ids[:, None, :]).astype(jnp.int32)
    bert = BertModule(cfg, add_pooling_layer=False, gradient_checkpointing=m.gradient_checkpointing,
                      scan_layers=m.scan_layers, **kw)
    encoder_params = {k: v for k, v in params["bert"].items() if k != "pooler"}
    rngs = {"dropout": rng} if train and rng is not None else {}
    out = bert.apply({"params": encoder_params}, batch["input_ids"], mask, batch["token_type_ids"],
                     batch["position_ids"], deterministic=not rngs, rngs=rngs)
    hidden = out["last_hidden_state"]
    at_cls = jnp.take_along_axis(hidden, batch["cls_positions"][..., None].astype(jnp.int32), axis=1)
    pooled = BertPooler(cfg, **kw).apply({"params": params["bert"]["pooler"]},
                                         at_cls.reshape(-1, 1, hidden.shape[-1]))
    shared = params["bert"]["embeddings"]["word_embeddings"]["embedding"] if cfg.tie_word_embeddings else None
    mlm, nsp = BertPreTrainingHeads(cfg, **kw).apply({"params": params["cls"]}, hidden, pooled, shared)
    return losses.pretraining_loss(mlm, nsp, batch["labels"], batch["next_sentence_label"].reshape(-1))


def make_train_step(model, tx: optax.GradientTransformation, config: TrainingConfig, shardings: dict,
                    mesh: jax.sharding.Mesh, batch_ndims: dict[str, int]):
    """``step(params, opt_state, micro_batches, rng) -> (params, opt_state, loss, grad_norm)``, jitted with the
    state's shardings in and out (donated) and ``micro_batches`` (``[accumulation, rows, ...]``) over ``"data"``.
    ``loss`` is the mean over micro-batches of each global micro-batch's loss; ``grad_norm`` is before clipping.
    Batches with ``example_ids`` are packed rows (``packed_pretraining_loss``)."""
    n = config.gradient_accumulation_steps
    packed = "example_ids" in batch_ndims

    def loss_fn(params, batch, rng):
        if packed:
            return packed_pretraining_loss(model, params, batch, rng).astype(jnp.float32)
        return model(**batch, params=params, train=True, dropout_rng=rng).loss.astype(jnp.float32)

    def step(params, opt_state, micro_batches, rng):
        def accumulate(carry, inputs):
            grads, loss = carry
            batch, key = inputs
            value, g = jax.value_and_grad(loss_fn)(params, batch, key)
            return (jax.tree_util.tree_map(lambda a, b: a + b / n, grads, g), loss + value / n), None

        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        keys = jax.random.split(rng, n)
        if n == 1:
            (grads, loss), _ = accumulate((zeros, jnp.zeros((), jnp.float32)),
                                          (jax.tree_util.tree_map(lambda x: x[0], micro_batches), keys[0]))
        else:
            (grads, loss), _ = jax.lax.scan(accumulate, (zeros, jnp.zeros((), jnp.float32)), (micro_batches, keys))
        grads = jax.lax.with_sharding_constraint(grads, shardings["params"])
        norm = optax.global_norm(grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, norm

    replicated = NamedSharding(mesh, PartitionSpec())
    batch = {k: NamedSharding(mesh, batch_spec(d)) for k, d in batch_ndims.items()}
    return jax.jit(step, in_shardings=(shardings["params"], shardings["opt_state"], batch, replicated),
                   out_shardings=(shardings["params"], shardings["opt_state"], replicated, replicated),
                   donate_argnums=(0, 1))


def init_state(model, tx: optax.GradientTransformation, shardings: dict, params: Any = None) -> dict:
    """``{"params", "opt_state"}`` placed on the mesh (fresh optimizer state; ``params`` default the model's)."""
    params = place(model.params if params is None else params, shardings["params"])
    opt_state = jax.jit(tx.init, out_shardings=shardings["opt_state"])(params)
    return {"params": params, "opt_state": opt_state}


def place(tree: Any, shardings: Any) -> Any:
    """Host (or single-device) values, the same on every process, as global arrays with ``shardings`` (each
    process fills its own shards: works on several hosts, unlike ``device_put`` of host data)."""
    def put(x, sharding):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        value = np.asarray(x)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])
    return jax.tree_util.tree_map(put, tree, shardings)
