"""The optimizer and the sharded, jitted train step of ``bert_flax.train``.

``build_optimizer``: ``optax.clip_by_global_norm`` then ``optax.adamw`` with ``bert_core.training``'s warmup +
linear decay schedule and no weight decay where ``bert_core.training.decays`` says so (judged on schema names
through ``conversion/names/flax.py``). ``state_shardings``: parameters sharded by their logical axis names
(``bert_flax.partitioning``) on a ``("data", "model")`` mesh, optimizer moments like their parameters.
``make_train_step``: one optimizer step over ``[accumulation, batch, ...]`` micro-batches (an explicit
``lax.scan``), jitted with those in / out shardings and the batch over ``"data"``. ``PretrainingLoss`` (and its
functional form ``pretraining_loss``): the pre-training loss with the MLM head only at labelled positions
(``sparse_mlm``: a static number of slots per row, ``prediction_slots``) and of packed rows
(``bert_core.data.packing``), equal to the model's own loss of the same examples unpacked.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn
import optax
from flax.traverse_util import flatten_dict, unflatten_dict
from jax.sharding import NamedSharding, PartitionSpec

from bert_core.config import BertConfig
from bert_core.heads import IGNORE_INDEX
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


class PretrainingLoss(nn.Module):
    """``FlaxBertForPreTraining``'s loss with the MLM head run only at labelled positions; packed rows too.

    Its parameters are the model's (``{"bert", "cls"}``) and so are its modules' paths, hence its dropout masks
    for one ``dropout`` rng: with ``slots`` the value and gradients equal the model's own ``loss`` (MLM cross
    entropy over labelled tokens + NSP), but the transform and the ``hidden x vocab`` decoder run on
    ``[rows, slots]`` gathered positions instead of ``[rows, seq]``. ``slots`` is static (one program per value,
    ``prediction_slots``): each row's labelled positions come first, in order, then unlabelled ones whose -100
    labels the loss ignores. ``slots=None``: the head on every position (the dense loss).

    Packed rows (``bert_core.data.packing``: ``example_ids``, ``position_ids``, ``cls_positions`` and
    ``next_sentence_label`` ``[rows, k]``, -100 in empty slots): attention is block diagonal (a token sees only
    its own example; padding sees padding), NSP runs the pooler at each example's [CLS] and averages over the
    real examples, so the loss equals that of the same examples unpacked.
    """

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    gradient_checkpointing: bool = False
    scan_layers: bool = False

    @nn.compact
    def __call__(self, batch: dict, slots: int | None = None, deterministic: bool = True):
        from bert_flax import losses
        from bert_flax.heads import BertPreTrainingHeads
        from bert_flax.modules import FlaxBertModule

        cfg, kw = self.config, dict(dtype=self.dtype, param_dtype=self.param_dtype)
        bert = FlaxBertModule(cfg, gradient_checkpointing=self.gradient_checkpointing,
                              scan_layers=self.scan_layers, name="bert", **kw)
        ids = batch.get("example_ids")
        mask = batch.get("attention_mask") if ids is None else (ids[:, :, None] == ids[:, None, :]).astype(jnp.int32)
        out = bert(batch["input_ids"], mask, batch.get("token_type_ids"), batch.get("position_ids"),
                   deterministic=deterministic)
        hidden = selected = out.last_hidden_state
        labels, nsp_labels, pooled = batch["labels"], batch["next_sentence_label"], out.pooler_output
        if slots is not None:
            positions = labelled_positions(labels, slots)  # [rows, slots]
            selected = jnp.take_along_axis(hidden, positions[..., None], axis=1)
            labels = jnp.take_along_axis(labels, positions, axis=1)
        if ids is not None:  # the pooler at every example's [CLS]: [rows * k, hidden]
            at_cls = jnp.take_along_axis(hidden, batch["cls_positions"][..., None].astype(jnp.int32), axis=1)
            pooled = bert.pooler(at_cls.reshape(-1, 1, hidden.shape[-1]))
            nsp_labels = nsp_labels.reshape(-1)
        shared = bert.word_embeddings() if cfg.tie_word_embeddings else None
        mlm, nsp = BertPreTrainingHeads(cfg, name="cls", **kw)(selected, pooled, shared)
        return losses.pretraining_loss(mlm, nsp, labels, nsp_labels)


def labelled_positions(labels, slots: int):
    """``[rows, slots]`` int32 positions: each row's labelled positions (``labels != -100``) in order, then its
    unlabelled ones (whose labels the loss ignores). ``slots`` must be at least the most labelled in a row."""
    return jnp.argsort(labels == IGNORE_INDEX, axis=-1, stable=True)[..., :slots].astype(jnp.int32)


def prediction_slots(labels: np.ndarray) -> int:
    """The static MLM width for ``labels`` (``[..., seq]``, on the host): the most labelled positions in any row,
    rounded up to 8 or a quarter octave above it (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, ...), at most ``seq``.

    Batches with different label counts therefore share a few programs (at most 4 per doubling) and each row
    computes < 25% more MLM positions than it labels (BERT's 20 predictions per 128 tokens: 20 slots)."""
    labels = np.asarray(labels)
    count = int((labels != IGNORE_INDEX).sum(-1).max(initial=0))
    if count > 8:
        step = 2 ** (int(np.log2(count - 1)) - 2)
        count = -(-count // step) * step
    return min(max(count, 8), labels.shape[-1])


def pretraining_loss(model, params: dict, batch: dict, rng=None, train: bool = True, slots: int | None = None):
    """``PretrainingLoss`` with ``model``'s config and options on ``params`` (dropout when ``train`` with an
    ``rng``): MLM + NSP of a ``FlaxBertForPreTraining``, the head at ``slots`` labelled positions per row (static;
    ``prediction_slots``) or on every position (``None``), packed rows or not."""
    m = model.module
    module = PretrainingLoss(model.config, dtype=m.dtype, param_dtype=m.param_dtype,
                             gradient_checkpointing=m.gradient_checkpointing, scan_layers=m.scan_layers)
    rngs = {"dropout": rng} if train and rng is not None else {}
    return module.apply({"params": params}, batch, slots, deterministic=not rngs, rngs=rngs)


def make_train_step(model, tx: optax.GradientTransformation, config: TrainingConfig, shardings: dict,
                    mesh: jax.sharding.Mesh, batch_ndims: dict[str, int], sparse_mlm: bool = True):
    """``step(params, opt_state, micro_batches, rng, slots=None) -> (params, opt_state, loss, grad_norm)``, jitted
    with the state's shardings in and out (donated) and ``micro_batches`` (``[accumulation, rows, ...]``) over
    ``"data"``. ``loss`` is the mean over micro-batches of each global micro-batch's loss; ``grad_norm`` is before
    clipping. Pre-training runs ``PretrainingLoss``: with ``sparse_mlm`` the MLM head only at ``slots`` positions
    per row (static: one program per value; default ``prediction_slots`` of the batch's labels, which must then be
    readable on this process: several processes pass the global batch's), packed rows (``example_ids``) always."""
    n = config.gradient_accumulation_steps
    packed = "example_ids" in batch_ndims
    pretraining = model.head == "BertForPreTraining" and (sparse_mlm or packed)

    def loss_fn(params, batch, rng, slots):
        if pretraining:
            return pretraining_loss(model, params, batch, rng, slots=slots).astype(jnp.float32)
        return model(**batch, params=params, train=True, dropout_rng=rng).loss.astype(jnp.float32)

    def step(params, opt_state, micro_batches, rng, slots):
        def accumulate(carry, inputs):
            grads, loss = carry
            batch, key = inputs
            value, g = jax.value_and_grad(loss_fn)(params, batch, key, slots)
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
    jitted = jax.jit(step, in_shardings=(shardings["params"], shardings["opt_state"], batch, replicated),
                     out_shardings=(shardings["params"], shardings["opt_state"], replicated, replicated),
                     static_argnums=(4,), donate_argnums=(0, 1))

    def train_step(params, opt_state, micro_batches, rng, slots: int | None = None):
        if not (pretraining and sparse_mlm):
            slots = None
        elif slots is None:
            slots = prediction_slots(micro_batches["labels"])
        return jitted(params, opt_state, micro_batches, rng, slots)

    return train_step


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
