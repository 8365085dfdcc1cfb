"""Small builders shared by the torch tests."""

import torch

from bert_core import BertConfig
from tests.conftest import random_inputs, tiny_config_dict


def tiny_config(**overrides) -> BertConfig:
    return BertConfig(**tiny_config_dict(**overrides))


def torch_inputs(**kwargs) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in random_inputs(**kwargs).items()}
