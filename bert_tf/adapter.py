"""bert_tf's side of the cross-framework contract (``bert_core.adapter.FrameworkAdapter``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf

from bert_core.adapter import Batch, LoadedModel, dtype_name, outputs_to_numpy, run_padded


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

    def load(self, folder: str, head: str, device: Any = None, dtype: Any = None) -> LoadedModel:
        import keras

        dev = resolve_device(device)
        name = dtype_name(dtype)
        policy = {None: None, "float32": None, "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[name]
        previous = keras.config.dtype_policy()
        try:  # Keras layers take the global policy when built: float32 weights, computation in 16 bits
            if policy:
                keras.config.set_dtype_policy(policy)
            with tf.device(dev):
                model = self.model_class(head).from_pretrained(folder)
        finally:
            keras.config.set_dtype_policy(previous)
        return LoadedModel("tf", head, model, model.config, dev)

    def optimize(self, loaded: LoadedModel, **options: Any) -> LoadedModel:
        """Dense layers, LayerNorm and activations on the real tokens only (``model.skip_padding``); padded
        positions of the hidden states come back as zeros, right padding keeps the pooler exact."""
        loaded.model.skip_padding = True
        loaded.optimized = True
        return loaded

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

    def run_sequences(self, loaded: LoadedModel, input_ids: list[list[int]], token_type_ids: list[list[int]],
                      pad_token_id: int = 0) -> list[dict[str, Any]]:
        return run_padded(self, loaded, input_ids, token_type_ids, pad_token_id)

    def gradients(self, loaded: LoadedModel, batch: Batch,
                  probe: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        variables = loaded.model.schema_variables()
        names = list(variables)
        with tf.device(loaded.device or "/CPU:0"), tf.GradientTape() as tape:
            out = loaded.model(_tensors(batch), training=False)
            if probe is None:
                loss = out.loss
            else:
                loss = tf.add_n([tf.reduce_sum(out[k] * tf.constant(np.asarray(w, np.float32)))
                                 for k, w in probe.items()])
        grads = tape.gradient(loss, [variables[n][0] for n in names])
        out = {}
        for name, grad in zip(names, grads):
            var = variables[name][0]
            g = np.zeros(tuple(var.shape), np.float32) if grad is None else np.asarray(tf.convert_to_tensor(grad),
                                                                                       np.float32)
            out[name] = np.ascontiguousarray(g.T if variables[name][1] else g)
        return out

    def state_dict(self, loaded: LoadedModel) -> dict[str, np.ndarray]:
        return loaded.model.schema_state_dict()

    def train_steps(self, loaded: LoadedModel, global_batches: Iterable[Batch], config: Any,
                    resume_from: str | None = None, save: bool = False) -> list[float]:
        from bert_tf.train import train

        with tf.device(loaded.device or "/CPU:0"):
            result = train(loaded.model, list(global_batches), config.replace(log_every=1), strategy="none",
                           progress=False, save=save, resume_from=resume_from)
        return list(result.losses)

    def train(self, args: Any) -> int:
        from bert_tf import train

        return int(train.main(args) or 0)


ADAPTER = TFAdapter()
