"""Saving, loading and the mapping between Flax parameters and the interchange schema.

Paths go through ``conversion.names.flax`` (the one table shared with the msgpack format). A model built with
``scan_layers=True`` holds each encoder parameter stacked over layers (``encoder/layer/attention/...`` with a
leading axis); ``unstack_layers`` / ``stack_layers`` convert to and from the per-layer layout
(``encoder/layer/0/...``) that every file uses, so scanned and looped models read and write the same files.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from bert_core.config import BertConfig
from bert_core.files import atomic_folder
from conversion.names.flax import flax_path_to_schema, flax_to_schema, schema_to_flax

logger = logging.getLogger("bert_flax")
_LAYER = re.compile(r"^(?P<pre>(?:.*/)?encoder/layer)/(?P<rest>.*)$")
_TIED = "cls.predictions.decoder.weight"


def unstack_layers(flat: dict[str, Any], num_layers: int) -> dict[str, Any]:
    """``encoder/layer/<p>`` with a leading layer axis -> ``encoder/layer/<i>/<p>``."""
    out = {}
    for path, value in flat.items():
        m = _LAYER.match(path)
        if m and not m["rest"].split("/", 1)[0].isdigit():
            for i in range(num_layers):
                out[f"{m['pre']}/{i}/{m['rest']}"] = value[i]
        else:
            out[path] = value
    return out


def stack_layers(flat: dict[str, Any], num_layers: int) -> dict[str, Any]:
    """Inverse of ``unstack_layers``; every layer must be present."""
    out, groups = {}, {}
    for path, value in flat.items():
        m = _LAYER.match(path)
        if m and m["rest"].split("/", 1)[0].isdigit():
            i, rest = m["rest"].split("/", 1)
            groups.setdefault(f"{m['pre']}/{rest}", {})[int(i)] = value
        else:
            out[path] = value
    for path, layers in groups.items():
        if sorted(layers) != list(range(num_layers)):
            raise ValueError(f"{path}: layers {sorted(layers)} found, 0..{num_layers - 1} expected.")
        out[path] = jnp.stack([jnp.asarray(layers[i]) for i in range(num_layers)])
    return out


class CheckpointMixin:
    """``schema_state_dict``, ``load_schema_state_dict``, ``from_pretrained``, ``save_pretrained``.

    The host class (``FlaxBertPreTrainedModel``) provides what is declared below.
    """

    config: BertConfig
    head: str
    scan_layers: bool
    seed: int
    input_shape: tuple[int, ...]
    param_dtype: Any
    params: dict
    _params: dict | None
    _jitted: dict
    load_report: Any
    init_weights: Callable[..., dict]
    param_shapes: Callable[..., dict]

    def _flat_layers(self, params: dict) -> dict[str, Any]:
        flat = {"/".join(k): v for k, v in flatten_dict(params).items()}
        return unstack_layers(flat, self.config.num_hidden_layers) if self.scan_layers else flat

    def _params_from_flat(self, flat: dict[str, Any]) -> dict:
        if self.scan_layers:
            flat = stack_layers(flat, self.config.num_hidden_layers)
        return unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()})

    def _expected_shapes(self) -> dict[str, tuple]:
        """Schema name -> shape of every parameter the model holds (computed abstractly)."""
        params = self._params if self._params is not None else self.param_shapes()
        shapes = {}
        for path, value in self._flat_layers(params).items():
            name, transposed = flax_path_to_schema(path)
            shapes[name] = tuple(value.shape[::-1] if transposed else value.shape)
        return shapes

    def schema_state_dict(self, params: dict | None = None) -> dict[str, np.ndarray]:
        """The parameters as the interchange schema (HF PyTorch names, numpy, Linear weights ``[out, in]``)."""
        flat = self._flat_layers(self.params if params is None else params)
        return flax_to_schema({k: np.asarray(jax.device_get(v)) for k, v in flat.items()})

    def load_schema_state_dict(self, state_dict: dict[str, np.ndarray], ignore_mismatched_sizes: bool = False,
                               source: str = "checkpoint"):
        """Load schema tensors into ``params``; returns a ``conversion.LoadReport`` (missing, unexpected, ...).

        Shape mismatches raise ``WeightMismatchError`` unless ``ignore_mismatched_sizes``; parameters the
        checkpoint lacks keep their current (or fresh random) values.
        """
        from conversion.pretrained import check_tensors
        from conversion.schema import match, normalize

        check_tensors(state_dict)
        state_dict = normalize(state_dict)
        expected = self._expected_shapes()
        if _TIED not in expected:  # tied decoder: the word embeddings are used, a stored copy is redundant
            state_dict.pop(_TIED, None)
        usable, report = match(state_dict, expected, ignore_mismatched_sizes=ignore_mismatched_sizes, source=source)
        dtype = self.param_dtype
        loaded = {k: jnp.asarray(v, dtype=dtype) for k, v in schema_to_flax(usable).items()}
        if self._params is not None:
            current = self._flat_layers(self._params)
        elif report.missing or report.mismatched:
            current = self._flat_layers(self.init_weights(jax.random.PRNGKey(self.seed), self.input_shape))
        else:
            current = {}
        current.update(loaded)
        self._params = self._params_from_flat(current)
        self._jitted.clear()
        return report

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any,
                        config: BertConfig | str | os.PathLike | None = None, ignore_mismatched_sizes: bool = False,
                        output_loading_info: bool = False, **kwargs: Any):
        """Load ``config.json`` and the weights (``flax_model.msgpack`` preferred; ``model.safetensors``,
        ``pytorch_model.bin``, ``tf_model.h5`` or a TF1 checkpoint) from a folder.

        The config is checked against the checkpoint's shapes before the model is built; shape mismatches raise
        unless ``ignore_mismatched_sizes``; missing and unexpected weights are logged by name. Model keywords:
        ``dtype``, ``param_dtype``, ``input_shape``, ``seed``, ``gradient_checkpointing``, ``scan_layers``;
        other keywords are transformers' loading options (consumed) or config fields (anything else is a
        TypeError). With ``_do_init=False`` returns ``(model, params)`` as transformers did; otherwise
        ``output_loading_info=True`` returns ``(model, info)``.
        """
        from conversion.pretrained import finish, prepare

        if model_args:
            raise TypeError(f"{cls.__name__}.from_pretrained() takes the folder only; pass config fields by name.")
        options = {"dtype": jnp.float32, "param_dtype": jnp.float32, "_do_init": True, "input_shape": (1, 1),
                   "seed": 0, "gradient_checkpointing": False, "scan_layers": False}
        prepared = prepare(cls, pretrained_model_name_or_path, config=config, kwargs=kwargs, native="flax",
                           ignore_mismatched_sizes=ignore_mismatched_sizes, output_loading_info=output_loading_info,
                           options=options)
        opts = dict(prepared.options)
        do_init = opts.pop("_do_init")
        model = cls(prepared.config, _do_init=False, **opts)
        report = model.load_schema_state_dict(prepared.state_dict, ignore_mismatched_sizes=True,
                                              source=prepared.source)
        info = finish(model, report, prepared, logger)
        if not do_init:
            params, model._params = model._params, None
            return model, params
        return (model, info.as_dict()) if output_loading_info else model

    def save_pretrained(self, folder: str | os.PathLike, params: dict | None = None) -> list[str]:
        """Write ``config.json`` and ``flax_model.msgpack`` into ``folder`` atomically; returns the file names."""
        from conversion.formats import flax_msgpack

        config = self.config.copy(architectures=[self.head])
        state_dict = self.schema_state_dict(params)
        with atomic_folder(folder) as tmp:
            config.save_pretrained(tmp)
            names = flax_msgpack.write(state_dict, tmp)
        return ["config.json", *names]
