"""Run a head in the chosen framework on numpy inputs and get numpy outputs back.

One function per framework, each importing only its framework, so a pipeline with ``framework="flax"`` never
imports TensorFlow or PyTorch. ``load_backend`` returns a callable ``run(batch) -> dict[str, np.ndarray]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from bert_core.heads import framework_class_name

Batch = dict[str, np.ndarray]


@dataclasses.dataclass
class Backend:
    """A loaded model in one framework: ``run(batch)`` maps numpy inputs to numpy outputs."""

    framework: str
    model: Any
    config: Any
    run: Callable[[Batch], dict[str, np.ndarray]]

    def __repr__(self) -> str:
        return f"Backend(framework={self.framework!r}, model={type(self.model).__name__})"


def _outputs_to_numpy(outputs: Any, to_numpy: Callable[[Any], np.ndarray]) -> dict[str, np.ndarray]:
    return {k: to_numpy(v) for k, v in outputs.items() if not isinstance(v, (tuple, list))}


def _load_pt(folder: str, head: str, device: str | None) -> Backend:
    import torch

    import bert_torch

    model = getattr(bert_torch, framework_class_name(head, "pt")).from_pretrained(folder)
    model.eval()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(dev)

    def run(batch: Batch) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(np.asarray(v, np.int64)).to(dev) for k, v in batch.items()})
        return _outputs_to_numpy(out, lambda t: t.float().cpu().numpy())

    return Backend("pt", model, model.config, run)


def _load_tf(folder: str, head: str, device: str | None) -> Backend:
    import tensorflow as tf

    import bert_tf

    model = getattr(bert_tf, framework_class_name(head, "tf")).from_pretrained(folder)
    dev = device or ("/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0")

    def run(batch: Batch) -> dict[str, np.ndarray]:
        with tf.device(dev):
            out = model({k: tf.constant(np.asarray(v, np.int32)) for k, v in batch.items()}, training=False)
        return _outputs_to_numpy(out, lambda t: np.asarray(t, np.float32))

    return Backend("tf", model, model.config, run)


def _load_flax(folder: str, head: str, device: str | None) -> Backend:
    import jax

    import bert_flax

    model = getattr(bert_flax, framework_class_name(head, "flax")).from_pretrained(folder)
    if device is not None:
        platform, _, index = device.partition(":")
        target = jax.devices(platform)[int(index or 0)]
        model.params = jax.device_put(model.params, target)

    def run(batch: Batch) -> dict[str, np.ndarray]:
        out = model(**{k: np.asarray(v, np.int32) for k, v in batch.items()})
        return _outputs_to_numpy(out, lambda t: np.asarray(t, np.float32))

    return Backend("flax", model, model.config, run)


LOADERS = {"pt": _load_pt, "torch": _load_pt, "tf": _load_tf, "flax": _load_flax}


def load_backend(framework: str, folder: str, head: str, device: str | None = None) -> Backend:
    """Load ``head`` from ``folder`` in ``framework`` ("pt", "tf" or "flax")."""
    if framework not in LOADERS:
        raise ValueError(f"Unknown framework {framework!r}; choose pt, tf or flax.")
    return LOADERS[framework](folder, head, device)
