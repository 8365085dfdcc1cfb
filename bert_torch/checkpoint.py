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
from typing import Any

import numpy as np
import torch

import conversion
from bert_core.config import BertConfig
from bert_core.files import atomic_folder
from conversion.schema import TIED_DECODER_BIAS, TIED_DECODER_WEIGHT, LoadReport

logger = logging.getLogger("bert_torch")

WEIGHTS_NAME = "model.safetensors"
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
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(a).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(a))


class CheckpointMixin:
    """Schema mapping and HF-style folder save / load, shared by every bert_torch model class."""

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
    def from_pretrained(cls, folder: str | os.PathLike, config: BertConfig | None = None,
                        ignore_mismatched_sizes: bool = False, torch_dtype: Any = None, **config_overrides: Any):
        """Build the model from a folder holding ``config.json`` and weights in any format
        ``conversion.load_state_dict`` reads (safetensors, sharded or not, ...).

        Missing and unexpected names are logged as warnings; a shape mismatch raises, naming the tensor, unless
        ``ignore_mismatched_sizes``. ``torch_dtype`` (or ``dtype``, transformers' newer name: ``torch.float16``,
        ``"bfloat16"``, ``"auto"`` = the config's) casts the model; default float32. ``config_overrides`` replace
        config fields (e.g. ``attn_implementation="sdpa"``, ``num_labels=5``). The model is returned in eval mode
        with the report in ``model.load_report``.
        """
        folder = os.fspath(folder)
        if "dtype" in config_overrides and torch_dtype is None:  # transformers >= 4.56's name for torch_dtype
            torch_dtype = config_overrides.pop("dtype")
        config = BertConfig.from_pretrained(folder) if config is None else config.copy()
        if "num_labels" in config_overrides and "id2label" not in config_overrides:
            config.num_labels = config_overrides.pop("num_labels")  # resets id2label / label2id, as transformers
            config.validate()
        if config_overrides:
            config = config.copy(**config_overrides)
        state_dict = conversion.load_state_dict(folder)
        model = cls(config)
        report = model.load_schema_state_dict(state_dict, ignore_mismatched_sizes=ignore_mismatched_sizes)
        if report.missing:
            logger.warning("%s: weights newly initialised (not in %s): %s", cls.__name__, folder,
                           ", ".join(report.missing))
        if report.unexpected:
            logger.warning("%s: weights in %s not used by the model: %s", cls.__name__, folder,
                           ", ".join(report.unexpected))
        if report.mismatched:
            logger.warning("%s: weights re-initialised for a shape mismatch: %s", cls.__name__,
                           ", ".join(f"{n} {a} vs {b}" for n, a, b in report.mismatched))
        from bert_torch.pretrained import resolve_dtype
        dtype = resolve_dtype(torch_dtype, config)
        if dtype is not None:
            model.to(dtype)
        model.load_report = report
        return model.eval()

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
