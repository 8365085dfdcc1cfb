"""The learning-rate schedule and the AdamW optimizer of ``bert_tf.train``: ``bert_core.training``'s recipe in Keras 3.

- ``LinearWarmupDecay``: a ``keras.optimizers.schedules.LearningRateSchedule`` computing
  ``bert_core.training.learning_rate_at`` (linear warmup from 0, linear decay to 0 at ``total_steps``). Keras
  evaluates a schedule on the optimizer's micro-step counter when ``gradient_accumulation_steps`` is set, so the
  schedule divides by the accumulation first: every micro-batch of optimizer step ``s`` sees the rate of ``s``.
- ``AdamW``: ``keras.optimizers.AdamW`` made to take exactly ``torch.optim.AdamW`` + ``clip_grad_norm_`` steps
  (``bert_core.training.adamw_reference_step``):

  * the bias-corrected update ``m_hat / (sqrt(v_hat) + eps)`` (Keras puts ``eps`` outside the bias correction,
    which differs from torch while ``sqrt(v_hat)`` is small);
  * clipping scale ``min(1, max_norm / (norm + 1e-6))``, torch's, with the norm of dense gradients (embedding
    lookups' ``IndexedSlices`` are summed into dense tensors first, as torch's embedding gradients are);
  * under a ``tf.distribute`` strategy the gradients are summed over replicas *before* clipping and accumulation
    (Keras clips each replica's gradients before its all-reduce, which is not clipping the global gradient).
The private Keras methods it overrides are listed (and tested to exist) in ``bert_tf.keras_internals``.

- ``build_optimizer(trainable, config)``: that optimizer for a model's variables, with weight decay switched off
  for the variables whose interchange-schema name ``bert_core.training.decays`` rejects (biases, LayerNorm).
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf
from keras import ops

from bert_core.training import TrainingConfig, decays
from bert_tf.keras_internals import (
    accumulated_gradient, adam_moments, iterations_variable, maybe_merge_call, optimizer_strategy)


@keras.saving.register_keras_serializable(package="bertzoo")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``learning_rate_at(step // accumulation, config)`` as a Keras schedule (float32 arithmetic)."""

    def __init__(self, learning_rate: float, warmup_steps: int, total_steps: int,
                 gradient_accumulation_steps: int = 1) -> None:
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.gradient_accumulation_steps = int(gradient_accumulation_steps)

    @classmethod
    def from_training_config(cls, config: TrainingConfig) -> LinearWarmupDecay:
        return cls(config.learning_rate, config.warmup_steps, config.total_steps, config.gradient_accumulation_steps)

    def __call__(self, step):
        step = ops.floor_divide(ops.cast(step, "int64"), self.gradient_accumulation_steps)
        step = ops.cast(step, "float32")
        warmup = ops.cast(self.warmup_steps, "float32")
        up = step / max(1.0, float(self.warmup_steps))
        down = ops.maximum(0.0, (float(self.total_steps) - step)
                           / max(1.0, float(self.total_steps - self.warmup_steps)))
        return self.learning_rate * ops.where(step < warmup, up, down)

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "gradient_accumulation_steps": self.gradient_accumulation_steps}


@keras.saving.register_keras_serializable(package="bertzoo")
class AdamW(keras.optimizers.AdamW):
    """Keras AdamW taking torch's AdamW steps (see the module docstring); same arguments as Keras'.

    With ``gradient_accumulation_steps`` it accumulates without Keras' ``cond`` around the update (which breaks
    under ``tf.distribute``: a synchronisation point inside control flow): every micro-step computes the update
    and keeps it only on the last micro-step of an optimizer step (``tf.where``), so the distributed updates run
    unconditionally.
    """

    def _is_update_step(self):
        steps = self.gradient_accumulation_steps
        if not steps:
            return None
        return tf.equal((tf.convert_to_tensor(iterations_variable(self)) + 1) % steps, 0)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        b1 = ops.cast(self.beta_1, variable.dtype)
        b2 = ops.cast(self.beta_2, variable.dtype)
        m, v = adam_moments(self, variable)
        if self._is_update_step() is None and not isinstance(gradient, tf.IndexedSlices):
            # One fused kernel (one pass over var, m, v) instead of ~12 elementwise passes. TF's Adam divides by
            # sqrt(v) + eps_hat with the bias correction folded into lr; eps_hat = eps * sqrt(1 - b2^t) makes it
            # torch's m_hat / (sqrt(v_hat) + eps) exactly (up to rounding).
            b1_power, b2_power = ops.power(b1, t), ops.power(b2, t)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=m.handle, v=v.handle, beta1_power=b1_power, beta2_power=b2_power, lr=lr,
                beta1=b1, beta2=b2, epsilon=ops.cast(self.epsilon, variable.dtype) * ops.sqrt(1 - b2_power),
                grad=gradient)
            return
        new_m = ops.add(ops.multiply(m, b1), ops.multiply(gradient, 1 - b1))
        new_v = ops.add(ops.multiply(v, b2), ops.multiply(ops.square(gradient), 1 - b2))
        denom = ops.add(ops.sqrt(ops.divide(new_v, 1 - ops.power(b2, t))), ops.cast(self.epsilon, variable.dtype))
        delta = ops.multiply(ops.divide(lr, 1 - ops.power(b1, t)), ops.divide(new_m, denom))
        keep = self._is_update_step()
        if keep is not None:
            new_m, new_v = tf.where(keep, new_m, m), tf.where(keep, new_v, v)
            delta = tf.where(keep, delta, tf.zeros_like(delta))
        self.assign(m, new_m)
        self.assign(v, new_v)
        self.assign_sub(variable, delta)

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return

        def apply(distribution, variables):
            def decay(variable):
                if self._use_weight_decay(variable):
                    rate = tf.cast(self.learning_rate, variable.dtype) * tf.cast(self.weight_decay, variable.dtype)
                    keep = self._is_update_step()
                    if keep is not None:
                        rate = rate * tf.cast(keep, variable.dtype)
                    variable.assign_sub(variable * rate)

            for variable in variables:
                distribution.extended.update(getattr(variable, "value", variable), decay, group=False)

        maybe_merge_call(apply, optimizer_strategy(self), variables)

    def _clip_gradients(self, grads):
        if self.global_clipnorm and self.global_clipnorm > 0:
            present = [g for g in grads if g is not None]
            norm = tf.linalg.global_norm(present)
            scale = tf.minimum(1.0, self.global_clipnorm / (norm + 1e-6))
            return [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]
        return super()._clip_gradients(grads)

    def _backend_apply_gradients(self, grads, trainable_variables):
        if self.use_ema:
            raise ValueError("bert_tf.schedules.AdamW does not support use_ema")
        # Embedding lookups give IndexedSlices with repeated rows: densify (their sum) as torch's dense gradients.
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        keep = self._is_update_step()
        if keep is not None:
            steps = self.gradient_accumulation_steps
            accumulators = [accumulated_gradient(self, v) for v in trainable_variables]
            totals = [g + tf.convert_to_tensor(a) for g, a in zip(grads, accumulators)]
            self._store([tf.where(keep, tf.zeros_like(t), t) for t in totals], accumulators)
            grads = [t / steps for t in totals]
        grads = self._clip_gradients(grads)
        self._apply_weight_decay(trainable_variables)
        self._backend_update_step(grads, trainable_variables, self.learning_rate)

    def _store(self, values, accumulators):
        def store(distribution, values, accumulators):
            for value, var in zip(values, accumulators):
                distribution.extended.update(var, lambda v, x: v.assign(x), args=(value,), group=False)

        maybe_merge_call(store, optimizer_strategy(self), values, [a.value for a in accumulators])

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)  # already summed in _backend_apply_gradients


def build_optimizer(trainable: Mapping[str, tf.Variable], config: TrainingConfig) -> AdamW:
    """``AdamW`` with ``config``'s hyper-parameters, schedule, clipping and accumulation.

    ``trainable``: the model's trainable variables keyed by interchange-schema name (as
    ``bert_tf.train.schema_variables`` gives them); those where ``decays(name)`` is False get no weight decay.
    Call it inside the strategy's scope; the optimizer is built (slots created) on those variables.
    """
    optimizer = AdamW(
        learning_rate=LinearWarmupDecay.from_training_config(config), weight_decay=config.weight_decay,
        beta_1=config.adam_beta1, beta_2=config.adam_beta2, epsilon=config.adam_epsilon,
        global_clipnorm=config.max_grad_norm or None,
        gradient_accumulation_steps=config.gradient_accumulation_steps if config.gradient_accumulation_steps > 1
        else None)
    optimizer.exclude_from_weight_decay(var_list=[v for name, v in trainable.items() if not decays(name)])
    optimizer.build(list(trainable.values()))
    return optimizer
