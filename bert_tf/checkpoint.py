"""``from_pretrained`` / ``save_pretrained`` and the mapping of Keras variables to the interchange schema.

Variables are named by walking the layer tree: each sublayer is named as transformers named its TF twin
(``bert/encoder/layer_._0/attention/self/query/kernel``), so ``conversion.names.tf`` -- the table that also
serves ``tf_model.h5`` files -- maps them to schema names. Nothing else converts names.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from bert_core.config import BertConfig
from bert_core.files import atomic_folder
from bert_tf.keras_internals import own_variables, sublayers
from conversion import LoadReport, match
from conversion.formats import tf_h5
from conversion.names import tf as tf_names
from conversion.schema import TIED_DECODER_WEIGHT

logger = logging.getLogger("bert_tf")


def tf_variables(model) -> dict:
    """Every variable of ``model`` under its transformers TF name (``bert/embeddings/word_embeddings/weight``)."""
    out: dict = {}

    def walk(layer, prefix: str) -> None:
        for v in own_variables(layer):
            out.setdefault(prefix + v.name, v)
        for sub in sublayers(layer):
            walk(sub, prefix + sub.name + "/")

    for sub in sublayers(model):
        walk(sub, sub.name + "/")
    return out


class TFCheckpointMixin:
    """Schema export/import, ``from_pretrained`` and ``save_pretrained`` for every TFBert* model."""

    head: str = "BertModel"
    config: BertConfig  # set by the host (TFBertPreTrainedModel)

    def schema_variables(self) -> dict[str, tuple[object, bool]]:
        """``{schema name: (variable, is_kernel)}``; kernels are stored [in, out] (the schema's transpose)."""
        base = self.head == "BertModel"
        return {tf_names.tf_name_to_schema(name, base): (var, tf_names.is_kernel(name))
                for name, var in tf_variables(self).items()}

    def schema_state_dict(self) -> dict[str, np.ndarray]:
        """The model's weights as the interchange schema (HF PyTorch names, numpy, Linear weights [out, in])."""
        out = {}
        for name, (var, kernel) in self.schema_variables().items():
            value = np.asarray(var.numpy())
            out[name] = np.ascontiguousarray(value.T if kernel else value)
        return out

    def load_schema_state_dict(self, state_dict, ignore_mismatched_sizes: bool = False) -> LoadReport:
        """Assign schema-named arrays to the model's variables; returns what was missing/unexpected/mismatched."""
        from conversion.pretrained import check_tensors

        check_tensors(state_dict)
        variables = self.schema_variables()
        expected = {name: tuple(var.shape[::-1] if kernel else var.shape)
                    for name, (var, kernel) in variables.items()}
        state_dict = dict(state_dict)
        if TIED_DECODER_WEIGHT not in expected:
            state_dict.pop(TIED_DECODER_WEIGHT, None)  # the same tensor as the word embeddings
        usable, report = match(state_dict, expected, ignore_mismatched_sizes=ignore_mismatched_sizes)
        for name, value in usable.items():
            var, kernel = variables[name]
            var.assign(np.asarray(value.T if kernel else value, dtype=var.dtype))
        return report

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args,
                        config: BertConfig | str | os.PathLike | None = None, ignore_mismatched_sizes: bool = False,
                        output_loading_info: bool = False, **kwargs):
        """Build the model from ``config.json`` and load weights in any format (``tf_model.h5`` preferred).

        The config is checked against the checkpoint's shapes before the model is built; a shape mismatch raises
        naming the tensor unless ``ignore_mismatched_sizes``. Keywords are transformers' loading options
        (consumed) or config fields; anything else is a TypeError. The report is in ``model.load_report``;
        ``output_loading_info=True`` returns ``(model, info)`` with transformers' keys.
        """
        from conversion.pretrained import finish, prepare

        if model_args:
            raise TypeError(f"{cls.__name__}.from_pretrained() takes the folder only; pass config fields by name.")
        prepared = prepare(cls, pretrained_model_name_or_path, config=config, kwargs=kwargs, native="tf",
                           ignore_mismatched_sizes=ignore_mismatched_sizes, output_loading_info=output_loading_info)
        model = cls(prepared.config)
        report = model.load_schema_state_dict(prepared.state_dict, ignore_mismatched_sizes=True)
        info = finish(model, report, prepared, logger)
        return (model, info.as_dict()) if output_loading_info else model

    def save_pretrained(self, folder: str | os.PathLike) -> list[str]:
        """Write ``config.json`` and ``tf_model.h5`` (transformers' layout) atomically; returns the file names."""
        config = self.config.copy(architectures=[self.head])
        with atomic_folder(folder) as tmp:
            config.save_pretrained(tmp)
            names = tf_h5.write(self.schema_state_dict(), tmp, head=self.head)
        return ["config.json", *names]
