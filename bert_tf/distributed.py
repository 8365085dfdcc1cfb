"""tf.distribute for ``bert_tf.train``: strategies by name, and the per-replica input pipeline.

- ``resolve_strategy(name)``: ``MirroredStrategy``, ``MultiWorkerMirroredStrategy`` (``TF_CONFIG``), ``TPUStrategy``
  (``TPU_NAME``) or the default strategy; ``is_chief(strategy)``: whether this process writes files.
- ``make_dataset(global_batches, config, strategy)``: a distributed dataset in which replica ``r`` (global rank) runs
  the rows ``bert_core.training.step_batches`` gives rank ``r``, micro-batch by micro-batch.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import tensorflow as tf

from bert_core.data import PACKED_FIELDS
from bert_core.training import INPUT_FIELDS, TrainingConfig

STRATEGIES = ("auto", "none", "ddp", "mirrored", "multi-worker", "tpu")


def resolve_strategy(strategy: str | tf.distribute.Strategy = "auto") -> tf.distribute.Strategy:
    """A ``tf.distribute.Strategy`` from a name (or the strategy itself).

    ``"auto"``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names a cluster, ``TPUStrategy`` when
    ``TPU_NAME`` is set, ``MirroredStrategy`` over all GPUs when there are several, else the default (one device).
    ``"none"``: the default strategy. ``"ddp"`` (the CLI's data-parallel name): multi-worker under ``TF_CONFIG``,
    else mirrored. ``"mirrored"``, ``"multi-worker"``, ``"tpu"`` (``TPU_NAME``, default ``"local"``: a TPU VM).
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)} or a tf.distribute.Strategy, got "
                         f"{strategy!r} (fsdp is PyTorch only)")
    cluster = bool(json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster"))
    if strategy == "auto":
        if cluster:
            strategy = "multi-worker"
        elif os.environ.get("TPU_NAME"):
            strategy = "tpu"
        else:
            strategy = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "none"
    if strategy == "ddp":
        strategy = "multi-worker" if cluster else "mirrored"
    if strategy == "none":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes files (worker 0 of a multi-worker cluster; always on one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "cluster_spec", lambda: None)():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


class ReplayableBatches:
    """Global batches that tf.data may start reading again: ``first()`` reads ahead (for shapes and dtypes), and
    Keras ``fit`` under a strategy reads a batch in a throw-away pass when the model is not built yet; the next pass
    must start at the first batch again. A callable source (a fresh iterable per call) or a re-iterable one (a list)
    simply restarts; for a one-shot iterator the items the first pass read (at most ``keep``) are replayed by the
    second, which then continues the iterator.
    """

    def __init__(self, source: Iterable | Callable[[], Iterable], keep: int = 64) -> None:
        self._factory = source if callable(source) else None
        self._source = source
        self._reiterable = self._factory is None and iter(source) is not source
        self._iterator = None
        self._kept: list = []
        self._complete = True  # every item read so far is kept
        self._keep = keep
        self._passes = 0
        self._lock = threading.Lock()

    def first(self) -> Mapping[str, np.ndarray]:
        """The first global batch (read ahead for shapes and dtypes)."""
        if self._factory is not None or self._reiterable:
            item = next(iter(self()), None)
        else:
            item = next(self._one_shot(peek=True), None)
        if item is None:
            raise ValueError("the training data is empty")
        return item

    def __call__(self):
        if self._factory is not None:
            return iter(self._factory())
        if self._reiterable:
            return iter(self._source)
        return self._one_shot()

    def _one_shot(self, peek: bool = False):
        with self._lock:
            if self._iterator is None:
                self._iterator = iter(self._source)
            if not peek:
                self._passes += 1
                if self._passes > 2 or not self._complete:
                    raise RuntimeError("the training data (a one-shot iterator) was read from the start again after "
                                       "too many batches; give a list, or a callable returning a fresh iterable")
            number = self._passes
        i = 0
        while True:
            with self._lock:
                if number != self._passes:
                    return  # a newer pass took over
                if i < len(self._kept):
                    item = self._kept[i]
                    if number == 2:
                        self._kept[i] = None  # replayed: free it
                else:
                    item = next(self._iterator, None)
                    if item is None:
                        return
                    if number <= 1:
                        if len(self._kept) < self._keep:
                            self._kept.append(item)
                        else:
                            self._complete = False
            i += 1
            yield item


def batch_fields(batch: Mapping[str, np.ndarray], config: TrainingConfig) -> list[str]:
    """The fields of ``batch`` the train step reads: the model inputs and ``config``'s labels, or every
    ``bert_core.data.PACKED_FIELDS`` field for packed pre-training rows (``example_ids`` in the batch)."""
    if "example_ids" in batch:
        if config.task != "pretraining":
            raise ValueError(f"packed rows (example_ids) are for pretraining, the config's task is {config.task!r}")
        missing = [k for k in PACKED_FIELDS if k not in batch]
        if missing:
            raise ValueError(f"the packed batches lack {', '.join(missing)} (they have {', '.join(sorted(batch))})")
        return list(PACKED_FIELDS)
    missing = [k for k in ("input_ids", *config.label_fields) if k not in batch]
    if missing:
        raise ValueError(f"the {config.task} batches lack {', '.join(missing)} (they have {', '.join(sorted(batch))})")
    return [k for k in (*INPUT_FIELDS, *config.label_fields) if k in batch]


def _cast(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(np.int32) if np.issubdtype(a.dtype, np.integer) else a.astype(np.float32)


def make_dataset(global_batches: Iterable | Callable[[], Iterable], config: TrainingConfig,
                 strategy: tf.distribute.Strategy):
    """A distributed dataset of micro-batches: for every global batch, accumulation step ``i`` and replica ``r``
    (global rank), rows ``[(r * A + i) * m, (r * A + i + 1) * m)`` with ``m = batch_size / (replicas * A)`` --
    ``bert_core.training.step_batches``' rows. Every worker reads the same global batches and keeps its rows;
    smaller (last) global batches are skipped."""
    source = ReplayableBatches(global_batches)
    first = source.first()
    fields = batch_fields(first, config)
    replicas = strategy.num_replicas_in_sync
    micro = config.micro_batch_size(replicas)
    accum = config.gradient_accumulation_steps
    spec = {k: tf.TensorSpec((micro, *np.shape(first[k])[1:]), tf.as_dtype(_cast(first[k][:1]).dtype))
            for k in fields}

    def dataset_fn(context: tf.distribute.InputContext):
        local = replicas // context.num_input_pipelines
        ranks = [context.input_pipeline_id * local + j for j in range(local)]

        def micro_batches():
            for batch in source():
                rows = len(batch["input_ids"])
                if rows < config.batch_size:
                    continue
                if rows > config.batch_size:
                    raise ValueError(f"a global batch has {rows} rows, the config's batch_size is "
                                     f"{config.batch_size}")
                for i in range(accum):
                    for rank in ranks:
                        start = (rank * accum + i) * micro
                        yield {k: _cast(batch[k][start:start + micro]) for k in fields}

        return tf.data.Dataset.from_generator(micro_batches, output_signature=spec).prefetch(2)

    return strategy.distribute_datasets_from_function(dataset_fn)
