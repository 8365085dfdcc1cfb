"""The contract every framework package implements once, in its ``adapter.py``.

The applications (pipelines, verify, demo, the train command, the bench, the cross-framework tests) reach a
framework only through this protocol, with numpy on both sides, so they never import a framework themselves and
one test can be written for all three. ``bertzoo.adapters.get_adapter("pt" | "tf" | "flax")`` returns the
framework's ``ADAPTER`` (its module is imported only then).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np

Batch = dict[str, np.ndarray]
"""Model inputs (and labels) by transformers' argument names, as numpy integer or float arrays."""


@dataclasses.dataclass
class LoadedModel:
    """A model of one framework, placed on a device: what ``FrameworkAdapter.load`` returns."""

    framework: str
    head: str
    model: Any
    config: Any
    device: Any = None
    optimized: bool = False
    """Set by ``optimize``: run the framework's fastest inference path."""

    def __repr__(self) -> str:
        return (f"LoadedModel(framework={self.framework!r}, head={self.head!r}, model={type(self.model).__name__}, "
                f"device={self.device!r}, optimized={self.optimized})")


@runtime_checkable
class FrameworkAdapter(Protocol):
    """What each of ``bert_torch``, ``bert_tf`` and ``bert_flax`` provides as ``adapter.ADAPTER``."""

    name: str
    """``"pt"``, ``"tf"`` or ``"flax"``."""
    requires: tuple[str, ...]
    """Import names the framework needs (``("torch",)``), for clear "not installed" messages."""

    def model_class(self, head: str) -> type:
        """The framework's class for a head named by its PyTorch name (``"BertForMaskedLM"``)."""

    def load(self, folder: str, head: str, device: Any = None, dtype: Any = None) -> LoadedModel:
        """``from_pretrained(folder)`` of the head's class, in inference mode, on ``device`` (default: the
        framework's first accelerator, else the CPU), computing in ``dtype`` (``dtype_name`` reads it; None:
        float32)."""

    def optimize(self, loaded: LoadedModel, **options: Any) -> LoadedModel:
        """Turn on the framework's fastest inference path for ``loaded`` (no work on padding where the framework
        has one); outputs equal the plain path on real tokens. Returns ``loaded``."""

    def build(self, config: Any, head: str, state_dict: dict[str, np.ndarray] | None = None,
              seed: int = 0) -> LoadedModel:
        """A model from a config, with interchange-schema weights loaded when given (else seeded init)."""

    def run(self, loaded: LoadedModel, batch: Batch, **options: Any) -> dict[str, Any]:
        """Forward pass in inference mode: outputs by transformers' field names, as float32 numpy arrays (tuple
        fields such as ``hidden_states`` as tuples of arrays). ``options`` are forward keywords
        (``output_hidden_states=True``, ...)."""

    def run_sequences(self, loaded: LoadedModel, input_ids: list[list[int]], token_type_ids: list[list[int]],
                      pad_token_id: int = 0) -> list[dict[str, Any]]:
        """Outputs of each sequence (token outputs ``[n, ...]`` trimmed to its length, row outputs ``[...]``), in
        input order; a framework may skip the padding a batch of different lengths would need
        (``run_padded`` is the plain way)."""

    def gradients(self, loaded: LoadedModel, batch: Batch,
                  probe: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """d loss / d every parameter, keyed by interchange-schema names, in inference mode (no dropout).

        The loss is the model's (``batch`` holds the labels), or with ``probe`` (output field -> array of that
        output's shape) ``sum(output[field] * probe[field])`` over its fields, for heads without a loss
        (``BertModel``). Every parameter has an entry (zeros where the loss does not reach it)."""

    def state_dict(self, loaded: LoadedModel) -> dict[str, np.ndarray]:
        """The model's weights in the interchange schema."""

    def train_steps(self, loaded: LoadedModel, global_batches: Iterable[Batch], config: Any,
                    resume_from: str | None = None, save: bool = False) -> list[float]:
        """Train ``loaded.model`` in place with the framework's own trainer (``bert_torch.train``,
        ``bert_tf.train``, ``bert_flax.train``) for ``config.total_steps`` optimizer steps of
        ``config`` (a ``bert_core.training.TrainingConfig``) on one device, without a progress bar; returns the
        loss of each step run. ``resume_from``: a checkpoint the same trainer wrote (``save=True`` with
        ``config.save_every``); the steps it already took are skipped."""

    def train(self, args: Any) -> int:
        """The ``bertzoo train`` command for this framework (argparse namespace in, exit status out)."""


DTYPES = ("float32", "bfloat16", "float16")


def dtype_name(dtype: Any) -> str | None:
    """``"bfloat16"`` for ``"bfloat16"``, ``torch.bfloat16``, ``jnp.bfloat16``, ``tf.bfloat16``, ``np.float16``...;
    None for None. Anything else is a ValueError naming the choices."""
    if dtype is None:
        return None
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None) or getattr(dtype, "__name__", None) \
        or str(dtype)
    name = str(name).removeprefix("torch.")
    name = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}.get(
        name, name)
    if name not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)} (or the framework's dtype).")
    return name


def run_padded(adapter: FrameworkAdapter, loaded: LoadedModel, input_ids: list[list[int]],
               token_type_ids: list[list[int]], pad_token_id: int = 0) -> list[dict[str, Any]]:
    """``run_sequences`` the plain way: one right-padded batch, outputs split back per sequence."""
    from bert_core.heads import HEADS_BY_NAME

    lengths = [len(ids) for ids in input_ids]
    width = max(lengths)
    batch = {name: np.full((len(lengths), width), pad_token_id if name == "input_ids" else 0, np.int64)
             for name in ("input_ids", "token_type_ids", "attention_mask")}
    for j, (ids, types) in enumerate(zip(input_ids, token_type_ids)):
        batch["input_ids"][j, :len(ids)] = ids
        batch["token_type_ids"][j, :len(ids)] = types
        batch["attention_mask"][j, :len(ids)] = 1
    result = adapter.run(loaded, batch)
    per_token = HEADS_BY_NAME[loaded.head].token_outputs
    return [{k: (v[j, :n] if k in per_token else v[j]) for k, v in result.items() if not isinstance(v, tuple)}
            for j, n in enumerate(lengths)]


def outputs_to_numpy(outputs: Any, to_numpy: Any) -> dict[str, Any]:
    """A model output (mapping of field -> tensor or tuple of tensors) to float32 numpy, Nones dropped."""
    result: dict[str, Any] = {}
    for key, value in outputs.items():
        if value is None:
            continue
        if isinstance(value, (tuple, list)):
            if value and isinstance(value[0], (tuple, list)):  # past_key_values: not an output to compare
                continue
            result[key] = tuple(np.asarray(to_numpy(v), np.float32) for v in value)
        else:
            result[key] = np.asarray(to_numpy(value), np.float32)
    return result
