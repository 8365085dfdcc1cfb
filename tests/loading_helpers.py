"""Framework-free checkpoint folders for the loading tests: random float32 weights of the shapes a config implies."""

from __future__ import annotations

import json
import pathlib

import numpy as np

import conversion
from bert_core import BertConfig
from tests.conftest import tiny_config_dict


def write_checkpoint(folder: pathlib.Path, head: str = "BertModel", fmt: str = "safetensors", seed: int = 0,
                     config_json: dict | None = None, **overrides) -> dict[str, np.ndarray]:
    """Write ``config.json`` (``config_json`` verbatim when given) and weights of ``head`` for a tiny config with
    ``overrides`` into ``folder``; returns the state dict written."""
    config = BertConfig(**tiny_config_dict(**overrides))
    shapes, optional = conversion.expected_shapes(config, head)
    rng = np.random.default_rng(seed)
    sd = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items() if k not in optional}
    folder.mkdir(parents=True, exist_ok=True)
    conversion.save_state_dict(sd, folder, fmt, head=head)
    data = config.to_dict() if config_json is None else config_json
    (folder / "config.json").write_text(json.dumps(data))
    return sd


def google_config(**overrides) -> dict:
    """A config as Google's run_classifier writes it: no num_labels, id2label or label2id."""
    data = BertConfig(**tiny_config_dict(**overrides)).to_dict()
    for key in ("num_labels", "id2label", "label2id", "architectures", "model_type"):
        data.pop(key, None)
    return data
