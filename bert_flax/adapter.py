"""bert_flax's side of the cross-framework contract (``bert_core.adapter.FrameworkAdapter``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import numpy as np

from bert_core.adapter import Batch, LoadedModel, dtype_name, outputs_to_numpy, run_padded
from bert_core.heads import framework_class_name


def resolve_device(device: Any = None) -> jax.Device | None:
    """transformers v4's ``device=`` convention mapped to JAX devices: None (JAX's default device), -1 (CPU), an
    index (accelerator N), ``"cpu"``, ``"gpu:N"`` / ``"cuda:N"`` / ``"tpu:N"``. An absent accelerator is an
    error, never a silent fallback to the CPU."""
    if device is None:
        return None
    if isinstance(device, jax.Device):
        return device
    if isinstance(device, int) and not isinstance(device, bool):
        if device < 0:
            return jax.devices("cpu")[0]
        accelerators = [d for d in jax.devices() if d.platform != "cpu"]
        if device >= len(accelerators):
            raise ValueError(f"device {device} was requested but JAX sees {len(accelerators)} accelerator(s); use "
                             "device=-1 (or 'cpu') for the CPU.")
        return accelerators[device]
    platform, _, index = str(device).lower().partition(":")
    platform = {"cuda": "gpu"}.get(platform, platform)
    if platform not in ("cpu", "gpu", "tpu") or (index and not index.isdigit()):
        raise ValueError(f"Unknown JAX device {device!r}; use -1 / 'cpu', an index, 'gpu:N' or 'tpu:N'.")
    try:
        found = jax.devices(platform)
    except RuntimeError:
        found = []
    if int(index or 0) >= len(found):
        raise ValueError(f"device {device!r} was requested but JAX sees {len(found)} {platform} device(s); use "
                         "device=-1 (or 'cpu') for the CPU.")
    return found[int(index or 0)]


def _arrays(batch: Batch) -> dict[str, np.ndarray]:
    out = {}
    for key, value in batch.items():
        value = np.asarray(value)
        out[key] = value.astype(np.int32) if value.dtype.kind in "iub" else value
    return out


class FlaxAdapter:
    """Numpy in, numpy out, for every head of bert_flax."""

    name = "flax"
    requires = ("jax", "flax")

    def model_class(self, head: str) -> type:
        import bert_flax

        return getattr(bert_flax, framework_class_name(head, "flax"))

    def load(self, folder: str, head: str, device: Any = None, dtype: Any = None) -> LoadedModel:
        import jax.numpy as jnp

        name = dtype_name(dtype)  # computation dtype; parameters stay float32, as transformers' Flax dtype=
        model = self.model_class(head).from_pretrained(folder, **({"dtype": jnp.dtype(name)} if name else {}))
        dev = resolve_device(device)
        if dev is not None:
            model.params = jax.device_put(model.params, dev)
        return LoadedModel("flax", head, model, model.config, dev)

    def optimize(self, loaded: LoadedModel, **options: Any) -> LoadedModel:
        """``run_sequences`` then packs several sequences into each row (``bert_flax.packing``: segment-aware
        attention, no work on padding) for the heads whose outputs are per token."""
        loaded.optimized = True
        return loaded

    def build(self, config: Any, head: str, state_dict: dict[str, np.ndarray] | None = None,
              seed: int = 0) -> LoadedModel:
        model = self.model_class(head)(config, seed=seed)
        if state_dict is not None:
            model.load_schema_state_dict(state_dict)
        return LoadedModel("flax", head, model, model.config, None)

    def run(self, loaded: LoadedModel, batch: Batch, **options: Any) -> dict[str, Any]:
        out = loaded.model(**_arrays(batch), **options)
        return outputs_to_numpy(out, np.asarray)

    def run_sequences(self, loaded: LoadedModel, input_ids: list[list[int]], token_type_ids: list[list[int]],
                      pad_token_id: int = 0) -> list[dict[str, Any]]:
        from bert_flax.packing import TOKEN_HEADS, packed_forward

        if loaded.optimized and loaded.head in TOKEN_HEADS:
            results = packed_forward(loaded.model, input_ids, token_type_ids, pad_token_id=pad_token_id)
            return [{k: np.asarray(v, np.float32) for k, v in r.items()} for r in results]
        return run_padded(self, loaded, input_ids, token_type_ids, pad_token_id)

    def gradients(self, loaded: LoadedModel, batch: Batch,
                  probe: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        model, inputs = loaded.model, _arrays(batch)

        def loss(params):
            out = model(**inputs, params=params)
            if probe is None:
                return out.loss
            return sum((out[k] * np.asarray(w, np.float32)).sum() for k, w in probe.items())

        grads = jax.grad(loss)(model.params)
        return {k: np.asarray(v, np.float32) for k, v in model.schema_state_dict(grads).items()}

    def state_dict(self, loaded: LoadedModel) -> dict[str, np.ndarray]:
        return loaded.model.schema_state_dict()

    def train_steps(self, loaded: LoadedModel, global_batches: Iterable[Batch], config: Any,
                    resume_from: str | None = None, save: bool = False) -> list[float]:
        from bert_flax.train import train

        result = train(loaded.model, iter(global_batches), config.replace(log_every=1), progress=False,
                       resume_from=resume_from, save=save)
        return list(result.losses)

    def train(self, args: Any) -> int:
        from bert_flax import train

        return int(train.main(args) or 0)


ADAPTER = FlaxAdapter()
