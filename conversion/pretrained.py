"""The one ``from_pretrained`` algorithm of every framework, without a framework.

``prepare`` does everything that needs no model: resolve the folder (``subfolder``), read ``config.json`` with the
caller's overrides, consume transformers v4's loading keywords (never written into the config), refuse unknown
keywords, read the checkpoint and check every tensor, infer ``num_labels`` from a classifier weight when the
config does not give it, and compare the shapes the config implies with the checkpoint's -- all BEFORE a model is
built, so a config that disagrees with its checkpoint fails fast and small. A framework's ``from_pretrained`` is
then: ``prepare`` -> build the model -> ``load_schema_state_dict`` -> ``finish``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from bert_core.config import CONFIG_NAME, GOOGLE_CONFIG_NAME, LOADING_KEYWORDS, BertConfig
from bert_core.files import check_folder
from bert_core.heads import head_from_class_name
from conversion.api import load_state_dict, read_shapes
from conversion.errors import CheckpointError, WeightMismatchError
from conversion.formats import FORMATS
from conversion.formats.common import is_float_dtype
from conversion.heads import expected_shapes, infer_config_from_shapes
from conversion.schema import LoadReport, StateDict, match

class ShapeMismatchError(WeightMismatchError, RuntimeError):
    """Checkpoint and config (or model) disagree on tensor shapes. A ``RuntimeError`` as transformers raises in
    PyTorch, and a ``ValueError`` as in its TF and Flax classes."""


@dataclasses.dataclass
class LoadingInfo(LoadReport):
    """``LoadReport`` plus notes on what loading decided (e.g. ``num_labels`` read from the classifier)."""

    notes: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        """transformers v4's ``output_loading_info`` dict."""
        return {"missing_keys": list(self.missing), "unexpected_keys": list(self.unexpected),
                "mismatched_keys": list(self.mismatched), "error_msgs": []}

    def summary(self) -> str:
        parts = list(self.notes)
        if self.missing:
            parts.append(f"weights newly initialised (not in the checkpoint): {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(f"weights in the checkpoint not used by the model: {', '.join(self.unexpected)}")
        if self.mismatched:
            parts.append("weights re-initialised for a shape mismatch: "
                         + ", ".join(f"{n} {tuple(a)} vs {tuple(b)}" for n, a, b in self.mismatched))
        return "; ".join(parts)


@dataclasses.dataclass
class Prepared:
    """What ``prepare`` resolved: the model's config, the checked weights, the framework's own options."""

    source: str
    config: BertConfig
    state_dict: StateDict
    head: str
    options: dict[str, Any]
    ignore_mismatched_sizes: bool
    output_loading_info: bool
    notes: list[str]


def class_head(cls: type) -> str:
    """The PyTorch head name of a model class of any framework (its own ``head`` or its class name)."""
    head = getattr(cls, "head", None)
    if isinstance(head, str):
        return head
    for klass in cls.__mro__:
        try:
            return head_from_class_name(klass.__name__)
        except ValueError:
            continue
    raise TypeError(f"{cls.__name__} is not a BERT model class (no head name found in its bases).")


def check_tensors(state_dict: Mapping[str, Any], source: str = "state dict") -> None:
    """Every entry must be a floating point array (numpy or one with a numpy dtype); raise naming offenders."""
    bad = []
    for name, value in state_dict.items():
        dtype = getattr(value, "dtype", None)
        try:
            floating = dtype is not None and hasattr(value, "shape") and is_float_dtype(dtype)
        except TypeError:  # not a numpy dtype (e.g. a torch tensor)
            floating = False
        if not floating:
            bad.append(f"{name} ({type(value).__name__} of dtype {dtype})")
        if len(bad) >= 10:
            break
    if bad:
        raise CheckpointError(source, "holds entries that are not floating point weights (numpy float16, bfloat16, "
                                      "float32 or float64 arrays): " + "; ".join(bad) + ".")


def mismatch_error(mismatched: list, source: str, config_source: str) -> ShapeMismatchError:
    rows = "\n".join(f"  {n}: {tuple(a)} in the checkpoint, {tuple(b)} expected" for n, a, b in mismatched)
    return ShapeMismatchError(
        f"Shapes differ between the checkpoint {source} and the model its config ({config_source}) describes:\n"
        f"{rows}\nCheck the config (or the overrides passed to from_pretrained), or pass "
        "ignore_mismatched_sizes=True to leave these weights newly initialised.")


def _config_file(folder: str) -> str:
    for name in (CONFIG_NAME, GOOGLE_CONFIG_NAME):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise FileNotFoundError(f"No {CONFIG_NAME} or {GOOGLE_CONFIG_NAME} in {folder}: pass config=BertConfig(...) "
                            "or put the model's config next to its weights.")


def _gives_labels(config_file: str) -> bool:
    with open(config_file, encoding="utf-8") as f:
        data = json.load(f)
    return "num_labels" in data or "id2label" in data


def _resolve(path: str, subfolder: str, local_files_only: bool) -> str:
    if subfolder:
        path = os.path.join(path, subfolder)
    if os.path.exists(path) or os.path.exists(path + ".index"):
        if os.path.isdir(path):
            check_folder(path)  # finishes or refuses a write that was interrupted in this folder
        return path
    if local_files_only:
        raise FileNotFoundError(f"{path} does not exist (local_files_only=True: nothing is downloaded).")
    from bert_core.hub import resolve_model

    return resolve_model(path)


def _weights(path: str, native: str | None, use_safetensors: bool | None) -> str:
    """The checkpoint to read: the framework's own file when the folder holds several formats."""
    if not os.path.isdir(path):
        return path
    names = ([FORMATS["safetensors"][1], "model.safetensors.index.json"] if use_safetensors
             else [FORMATS[native][1]] if native else [])
    for name in names:
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    if use_safetensors:
        raise FileNotFoundError(f"{path} holds no model.safetensors (use_safetensors=True).")
    return path


def _config(cls: type, path: str, config: Any, overrides: dict) -> tuple[BertConfig, bool, str]:
    """(config with overrides, whether it gives the labels, where it came from)."""
    if config is None or isinstance(config, (str, os.PathLike)):
        where = os.fspath(config) if config is not None else path if os.path.isdir(path) else os.path.dirname(path)
        file = where if os.path.isfile(where) else _config_file(where)
        config, labels, source = BertConfig.from_json_file(file), _gives_labels(file), file
    elif isinstance(config, BertConfig):
        config, labels, source = config.copy(), True, "the config passed"
    else:
        raise TypeError(f"config must be a BertConfig, a path or None, got {type(config).__name__}.")
    unknown = sorted(k for k in overrides if not config.is_known(k))
    if unknown:
        raise TypeError(f"{cls.__name__}.from_pretrained() got unexpected keyword argument(s) "
                        f"{', '.join(map(repr, unknown))}: neither a loading option nor a BertConfig field.")
    if "num_labels" in overrides and "id2label" not in overrides:
        config.num_labels = overrides.pop("num_labels")  # resets id2label / label2id, as transformers
        labels = True
    labels = labels or "id2label" in overrides
    if overrides:
        config = config.copy(**overrides)
    config.validate()
    return config, labels, source


def prepare(cls: type, path: str | os.PathLike, *, config: Any = None, ignore_mismatched_sizes: bool = False,
            output_loading_info: bool = False, options: Mapping[str, Any] = (), native: str | None = None,
            kwargs: Mapping[str, Any] = ()) -> Prepared:
    """Everything before the model is built (see the module docstring).

    ``options`` are the framework's own keywords with their defaults (taken out of ``kwargs``); ``native`` is the
    framework's format key, read first when a folder holds several formats.
    """
    kwargs = dict(kwargs)
    options = {name: kwargs.pop(name, default) for name, default in dict(options).items()}
    loading = {name: kwargs.pop(name) for name in list(kwargs) if name in LOADING_KEYWORDS}
    path = _resolve(os.fspath(path), loading.get("subfolder") or "", bool(loading.get("local_files_only")))
    config, labels_given, config_source = _config(cls, path, config, kwargs)
    head = class_head(cls)
    source = _weights(path, native, loading.get("use_safetensors"))
    # Headers first: the label count and every shape are checked before any tensor data is read or any model
    # is built, so a config that disagrees with a small checkpoint costs nothing.
    specs = read_shapes(source)
    config, notes = infer_config_from_shapes(config, specs, head, labels_given=labels_given)
    config.validate_for_model()
    expected, optional = expected_shapes(config, head)
    _, report = match(specs, expected, ignore_mismatched_sizes=True, optional=optional)
    if report.mismatched and not ignore_mismatched_sizes:
        raise mismatch_error(report.mismatched, source, config_source)
    state_dict = load_state_dict(source)
    return Prepared(source, config, state_dict, head, options, ignore_mismatched_sizes, output_loading_info, notes)


def finish(model: Any, report: LoadReport, prepared: Prepared, logger: logging.Logger) -> LoadingInfo:
    """Raise for a shape mismatch the config did not predict, log what was missing / unused, set
    ``model.load_report`` and return it."""
    if report.mismatched and not prepared.ignore_mismatched_sizes:
        raise mismatch_error(report.mismatched, prepared.source, "the model")
    info = LoadingInfo(report.missing, report.unexpected, report.mismatched, notes=list(prepared.notes))
    if info.summary():
        logger.warning("Loading %s from %s: %s", type(model).__name__, prepared.source, info.summary())
    model.load_report = info
    return info

