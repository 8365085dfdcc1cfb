"""bert_tf's side of the cross-framework contract (``bert_core.adapter.FrameworkAdapter``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from bert_core.adapter import Batch, LoadedModel, outputs_to_numpy


def resolve_device(device: Any = None) -> str:
    """transformers v4's ``device=`` convention mapped to TF device names: None (first GPU, else CPU), -1 (CPU),
    an index (GPU N), ``"cpu"``, ``"cuda:N"`` / ``"gpu:N"`` / ``"/GPU:N"``. An absent GPU is an error."""
    gpus = tf.config.list_logical_devices("GPU")
    if device is None:
        return "/GPU:0" if gpus else "/CPU:0"
    if isinstance(device, int) and not isinstance(device, bool):
        kind, index = ("CPU", 0) if device < 0 else ("GPU", device)
    else:
        text = str(device).lstrip("/").lower().replace("device:", "")
        kind, _, idx = text.partition(":")
        kind = {"cpu": "CPU", "gpu": "GPU", "cuda": "GPU"}.get(kind)
        if kind is None or (idx and not idx.isdigit()):
            raise ValueError(f"Unknown TensorFlow device {device!r}; use -1 / 'cpu', an index or 'gpu:N'.")
        index = int(idx or 0)
    if kind == "GPU" and index >= len(gpus):
        raise ValueError(f"device {device!r} was requested but TensorFlow sees {len(gpus)} GPU(s); use device=-1 "
                         "(or 'cpu') for the CPU.")
    return f"/{kind}:{index if kind == 'GPU' else 0}"


def _tensors(batch: Batch) -> dict[str, tf.Tensor]:
    out = {}
    for key, value in batch.items():
        value = np.asarray(value)
        out[key] = tf.constant(value.astype(np.int32) if value.dtype.kind in "iub" else value)
    return out


class TFAdapter:
    """Numpy in, numpy out, for every head of bert_tf."""

    name = "tf"
    requires = ("tensorflow", "keras")

    def model_class(self, head: str) -> type:
        import bert_tf

        return bert_tf.MODEL_CLASSES[head]

    def load(self, folder: str, head: str, device: Any = None) -> LoadedModel:
        dev = resolve_device(device)
        with tf.device(dev):
            model = self.model_class(head).from_pretrained(folder)
        return LoadedModel("tf", head, model, model.config, dev)

    def build(self, config: Any, head: str, state_dict: dict[str, np.ndarray] | None = None,
              seed: int = 0) -> LoadedModel:
        import keras

        keras.utils.set_random_seed(seed)
        model = self.model_class(head)(config)  # variables are created in the constructor
        if state_dict is not None:
            model.load_schema_state_dict(state_dict)
        return LoadedModel("tf", head, model, model.config, "/CPU:0")

    def run(self, loaded: LoadedModel, batch: Batch, **options: Any) -> dict[str, Any]:
        with tf.device(loaded.device or "/CPU:0"):
            out = loaded.model(_tensors(batch), training=False, **options)
        return outputs_to_numpy(out, np.asarray)

    def gradients(self, loaded: LoadedModel, batch: Batch) -> dict[str, np.ndarray]:
        variables = loaded.model.schema_variables()
        names = list(variables)
        with tf.device(loaded.device or "/CPU:0"), tf.GradientTape() as tape:
            loss = loaded.model(_tensors(batch), training=False).loss
        grads = tape.gradient(loss, [variables[n][0] for n in names])
        out = {}
        for name, grad in zip(names, grads):
            if grad is None:
                continue
            g = np.asarray(tf.convert_to_tensor(grad), np.float32)
            out[name] = np.ascontiguousarray(g.T if variables[name][1] else g)
        return out

    def state_dict(self, loaded: LoadedModel) -> dict[str, np.ndarray]:
        return loaded.model.schema_state_dict()

    def train(self, args: Any) -> int:
        from bert_tf import train

        return int(train.main(args) or 0)


ADAPTER = TFAdapter()
