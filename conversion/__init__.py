"""Checkpoint conversion between every framework and file format, through one interchange schema.

The schema is a dict of HF PyTorch state_dict names to numpy arrays. ``load_state_dict`` reads any supported
checkpoint into it; ``save_state_dict`` writes it in any format. Only numpy and file libraries are imported at
module level: a framework is imported inside the function that needs it.
"""

from conversion.api import detect_format, load_state_dict, read_shapes, save_state_dict
from conversion.converter import Plan, convert
from conversion.errors import CheckpointError, WeightMismatchError
from conversion.heads import expected_shapes, infer_config_from_shapes, infer_head
from conversion.schema import LoadReport, StateDict, TensorSpec, match

__all__ = ["load_state_dict", "save_state_dict", "read_shapes", "detect_format", "CheckpointError",
           "WeightMismatchError", "LoadReport", "StateDict", "TensorSpec", "match", "convert", "Plan", "infer_head",
           "expected_shapes", "infer_config_from_shapes"]
