"""Checkpoints: the model <-> interchange schema mapping, ``from_pretrained`` and ``save_pretrained``.

bert_torch's module names equal transformers', so ``state_dict`` names are the schema names; the mapping only
drops ``cls.predictions.decoder.bias`` (an alias of ``cls.predictions.bias``) and, when tied,
``cls.predictions.decoder.weight``.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import conversion
from bert_core.config import BertConfig
from bert_core.files import atomic_folder
from conversion.schema import TIED_DECODER_BIAS, TIED_DECODER_WEIGHT, LoadReport

logger = logging.getLogger("bert_torch")

WEIGHTS_NAME = "model.safetensors"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
           "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "half": torch.float16,
           "float": torch.float32}
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(size: int | str | None) -> int | None:
    """``5_000_000``, ``"5GB"`` (10**9 bytes, as transformers), ``"500MiB"`` -> bytes; None stays None."""
    if size is None or isinstance(size, int):
        return size
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?I?B?)\s*", str(size).upper())
    if not m:
        raise ValueError(f"max_shard_size {size!r} is not a size; use bytes (int) or a string like '5GB', '200MB'.")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        try:
            import ml_dtypes
            return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        except ImportError:  # no numpy bfloat16 type: store float32 (exact)
            t = t.float()
    return t.numpy().copy()


def _to_torch(a: np.ndarray) -> torch.Tensor:
    """A tensor over ``a``'s memory (only read: a read-only file-backed array needs no copy)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not writable.*")
        if a.dtype.name == "bfloat16":
            return torch.from_numpy(np.ascontiguousarray(a).view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(np.ascontiguousarray(a))


def resolve_dtype(dtype: Any, config: BertConfig | None = None) -> torch.dtype | None:
    """``torch.float16``, ``"bfloat16"``, ``"auto"`` (the config's ``torch_dtype``) or None -> a torch dtype."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return resolve_dtype(getattr(config, "torch_dtype", None) or "float32")
    name = str(dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise ValueError(f"Unknown torch_dtype {dtype!r}; use torch.float32, torch.float16, torch.bfloat16, "
                         "a string naming one of them, or 'auto'.")
    return _DTYPES[name]


def _device(device_map: Any) -> torch.device | None:
    """transformers' ``device_map`` for a model placed whole: ``"auto"``, ``"cpu"``, ``"cuda:0"``, ``0`` or
    ``{"": device}``."""
    if device_map is None:
        return None
    if isinstance(device_map, dict):
        if set(device_map) != {""}:
            raise ValueError(f"device_map {device_map!r} splits the model; bert_torch places a model whole: pass "
                             "one device ('cpu', 'cuda:0', 'auto') or {'': device}.")
        device_map = device_map[""]
    if device_map == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device_map, int):
        return torch.device("cuda", device_map)
    try:
        return torch.device(device_map)
    except (RuntimeError, TypeError):
        raise ValueError(f"device_map {device_map!r} is not a device; use 'auto', 'cpu', 'cuda:0' or "
                         "{'': device}.") from None


class CheckpointMixin:
    """Schema mapping and HF-style folder save / load, shared by every bert_torch model class.

    The host class (``BertPreTrainedModel``, an ``nn.Module``) provides what is declared below.
    """

    config: BertConfig
    state_dict: Callable[..., dict[str, torch.Tensor]]
    weights_tied: Callable[[], bool]
    tie_weights: Callable[[], None]
    dtype: torch.dtype

    # -- schema ---------------------------------------------------------------------------------------------
    def _schema_tensors(self) -> dict[str, torch.Tensor]:
        tied = self.weights_tied()
        return {k: v for k, v in self.state_dict().items()
                if k != TIED_DECODER_BIAS and not (tied and k == TIED_DECODER_WEIGHT)}

    def schema_state_dict(self) -> dict[str, np.ndarray]:
        """The weights in the interchange schema: HF PyTorch names -> numpy arrays (copies)."""
        return {k: _to_numpy(v) for k, v in self._schema_tensors().items()}

    @torch.no_grad()
    def load_schema_state_dict(self, state_dict: dict[str, np.ndarray],
                               ignore_mismatched_sizes: bool = False) -> LoadReport:
        """Copy schema tensors into the model (cast to its dtype). Adds or strips the ``bert.`` prefix, renames
        legacy gamma/beta; raises ``conversion.WeightMismatchError`` naming each tensor whose shape differs
        unless ``ignore_mismatched_sizes`` (those keep their initial values). Returns the report of missing,
        unexpected and mismatched names."""
        from conversion.pretrained import check_tensors

        check_tensors(state_dict)
        targets = self._schema_tensors()
        sd = dict(state_dict)
        if self.weights_tied():
            sd.pop(TIED_DECODER_WEIGHT, None)  # same values as the word embeddings by definition
        usable, report = conversion.match(sd, {k: tuple(v.shape) for k, v in targets.items()},
                                          ignore_mismatched_sizes=ignore_mismatched_sizes)
        for name, value in usable.items():
            targets[name].copy_(_to_torch(value))
        self.tie_weights()
        return report

    # -- folders --------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any,
                        config: BertConfig | str | os.PathLike | None = None, ignore_mismatched_sizes: bool = False,
                        output_loading_info: bool = False, **kwargs: Any):
        """Build the model from a folder holding ``config.json`` and weights in any format
        ``conversion.load_state_dict`` reads (safetensors, sharded or not, ...), as transformers v4 does.

        The config is checked against the checkpoint's shapes before the model is built; a shape mismatch raises
        (a ``RuntimeError``, as in transformers), naming the tensor, unless ``ignore_mismatched_sizes``. Missing
        and unexpected names are logged as warnings. ``torch_dtype`` (or ``dtype``: ``torch.float16``,
        ``"bfloat16"``, ``"auto"`` = the config's) casts the model; default float32. ``device_map`` (``"cpu"``,
        ``"cuda:0"``, ``"auto"``, or ``{"": device}``) places the whole model. Other keywords are transformers'
        loading options (``subfolder``, ``local_files_only``, ``revision``, ...: consumed) or config fields
        (``attn_implementation="sdpa"``, ``num_labels=5``); anything else is a TypeError. The model is returned
        in eval mode with the report in ``model.load_report``; ``output_loading_info=True`` returns
        ``(model, info)`` with transformers' keys.
        """
        from conversion.pretrained import finish, prepare

        if model_args:
            raise TypeError(f"{cls.__name__}.from_pretrained() takes the folder only; pass config fields by name.")
        prepared = prepare(cls, pretrained_model_name_or_path, config=config, kwargs=kwargs, native="safetensors",
                           ignore_mismatched_sizes=ignore_mismatched_sizes, output_loading_info=output_loading_info,
                           options={"torch_dtype": None, "dtype": None, "device_map": None})
        opts = prepared.options
        dtype = resolve_dtype(opts["dtype"] if opts["torch_dtype"] is None else opts["torch_dtype"], prepared.config)
        device = _device(opts["device_map"])
        model = cls(prepared.config)
        if dtype is not None or device is not None:
            model.to(device=device, dtype=dtype)
        report = model.load_schema_state_dict(prepared.state_dict, ignore_mismatched_sizes=True)
        info = finish(model, report, prepared, logger)
        model.eval()
        return (model, info.as_dict()) if output_loading_info else model

    def save_pretrained(self, folder: str | os.PathLike, max_shard_size: int | str | None = "5GB") -> list[str]:
        """Write ``config.json`` and ``model.safetensors`` (format "pt"; shards plus
        ``model.safetensors.index.json`` above ``max_shard_size``, bytes or "5GB"-style) into ``folder``,
        atomically. Weight files of an earlier save that this one does not produce are removed. Returns the
        file names written."""
        folder = os.fspath(folder)
        dtype = str(self.dtype).removeprefix("torch.")
        # transformers >= 4.56 reads and writes "dtype"; older versions "torch_dtype": write both, equal.
        config = self.config.copy(architectures=[type(self).__name__], torch_dtype=dtype, dtype=dtype)
        with atomic_folder(folder) as tmp:
            config.save_pretrained(tmp)
            written = conversion.save_state_dict(self.schema_state_dict(), tmp, "safetensors",
                                                 max_shard_size=parse_size(max_shard_size))
        stale = glob.glob(os.path.join(folder, "model*.safetensors")) + \
            glob.glob(os.path.join(folder, "model.safetensors.index.json"))
        for path in stale:
            if os.path.basename(path) not in written:
                os.remove(path)
        return ["config.json", *written]
