"""``TrainingModule``: the Keras model ``bert_tf.train`` fits -- a ``TFBert*`` head whose output is its loss.

``compute_loss`` divides the loss by the number of replicas (summing replica gradients then gives the gradient of
the mean loss); ``sparse_mlm`` runs the MLM head of ``TFBertForPreTraining`` on labelled positions only (same loss
as the full head, fewer FLOPs); the ``step_loss`` metric reports the replica-averaged loss of the last step.

Packed pre-training rows (``bert_core.data.packing``: ``example_ids`` and ``cls_positions`` in the batch) always take
the sparse path: block-diagonal attention from ``example_ids``, the rows' own ``position_ids``, and next-sentence
prediction on the pooler at each example's [CLS], averaged over the real examples -- the loss and gradients of the
same examples unpacked.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_tf import losses
from bert_tf.keras_internals import in_multi_worker_mode, sublayers


class _StepLoss(keras.metrics.Metric):
    """The last step's loss (already averaged over replicas), for the progress bar and ``TrainResult``."""

    def __init__(self, name: str = "step_loss", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable((), "zeros", dtype="float32", aggregation="mean", name="value")

    def update_state(self, value):
        self.value.assign(tf.cast(value, "float32"))

    def result(self):
        return self.value

    def reset_state(self):
        self.value.assign(0.0)


class TrainingModule(keras.Model):
    """Wraps a ``TFBert*`` head for ``fit``: its output is the head's loss (a float32 scalar per replica).

    ``compute_loss`` divides it by the number of replicas, so summing gradients over replicas gives the gradient of
    the mean loss; ``sparse_mlm`` runs the MLM head of ``TFBertForPreTraining`` on labelled positions only.
    """

    def __init__(self, model: keras.Model, sparse_mlm: bool = False, **kwargs) -> None:
        super().__init__(name="bertzoo_training", **kwargs)
        self.bert_model = model
        self.sparse_mlm = sparse_mlm and model.head == "BertForPreTraining"
        self.step_loss = _StepLoss()
        if all(layer.built for layer in sublayers(model, recursive=True)):
            model.built = True  # every variable exists: Keras must not trace a symbolic build under a strategy
        self.built = True

    def call(self, inputs, training=False):
        packed = "example_ids" in inputs  # packed rows always take this path (it knows cls_positions)
        if packed and self.bert_model.head != "BertForPreTraining":
            raise ValueError(f"packed rows (example_ids) train a BertForPreTraining, got a "
                             f"{type(self.bert_model).__name__}")
        if self.sparse_mlm or packed:
            return self._pretraining_loss(dict(inputs), training)
        return self.bert_model(dict(inputs), training=training, return_dict=True).loss

    def _pretraining_loss(self, inputs: dict, training):
        """The pre-training loss, MLM on the labelled positions only with ``sparse_mlm`` (else on every position;
        the same mean over the micro-batch's labelled tokens, static shapes for XLA); NSP on the pooler output,
        or for packed rows on the pooler at every example's [CLS] (``cls_positions``; -100 labels in empty slots
        are ignored, so it is the mean over the real examples)."""
        m = self.bert_model
        labels = tf.reshape(inputs.pop("labels"), (-1,))
        next_sentence_label = tf.reshape(inputs.pop("next_sentence_label"), (-1,))
        cls_positions = None
        if "example_ids" in inputs:
            ids = inputs.pop("example_ids")
            cls_positions = inputs.pop("cls_positions")
            # block diagonal: a token attends to its own example only (padding, id 0, to padding)
            inputs["attention_mask"] = tf.cast(ids[:, :, None] == ids[:, None, :], tf.int32)
        out = m.encode(inputs, training)
        hidden = out.last_hidden_state
        width = tf.shape(hidden)[-1]
        selected = tf.reshape(hidden, (-1, width))
        if self.sparse_mlm:
            picked = tf.reshape(tf.where(tf.not_equal(labels, losses.IGNORE_INDEX)), (-1,))
            selected, labels = tf.gather(selected, picked), tf.gather(labels, picked)
        mlm = m.mlm(selected, word_embeddings=m.bert.embeddings.word_embeddings.weight)
        if cls_positions is None:
            pooled = out.pooler_output
        else:
            at_cls = tf.gather(hidden, cls_positions, batch_dims=1)  # [B, max_per_row, H]
            pooled = m.bert.pooler(tf.reshape(at_cls, (-1, 1, width)))
        return losses.pretraining_loss(mlm, m.nsp(pooled), labels, next_sentence_label)

    def train_step(self, data):
        logs = super().train_step(data)
        strategy = tf.distribute.get_strategy()
        if in_multi_worker_mode(strategy):
            # Keras reduces multi-worker logs with reduce(MEAN, axis=0), which needs a batch axis
            logs = {k: tf.reshape(v, (1,)) for k, v in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Every variable (the head's, the optimizer's) exists: nothing to build. Keras would otherwise read a batch
        # and reduce it over replicas, which fails for dict inputs under MultiWorkerMirroredStrategy.
        if self.built and self.bert_model.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return y_pred / replicas if replicas > 1 else y_pred

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        loss = y_pred
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            loss = context.all_reduce(tf.distribute.ReduceOp.MEAN, loss)
        self.step_loss.update_state(loss)
        return self.get_metrics_result()


def schema_variables(model: keras.Model) -> dict[str, tf.Variable]:
    """The model's trainable variables keyed by interchange-schema name (``conversion/names/tf.py``)."""
    return {name: var for name, (var, _) in model.schema_variables().items() if var.trainable}
