"""Bad inputs give a ``ValueError`` naming what is wrong, with the same key words in every framework (the messages
of ``bert_core.checks``): out-of-range token ids and token types, and sequences longer than
``max_position_embeddings``."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.contract.builders import tiny_config
from tests.contract.conftest import FRAMEWORKS, get

CASES = {
    "input_ids": ({"input_ids": np.array([[1, 2, 99]])}, ["input_ids contains 99", r"outside \[0, 99\)",
                                                          "vocab_size=99"]),
    "negative_ids": ({"input_ids": np.array([[1, -1, 2]])}, ["input_ids contains -1", "vocab_size=99"]),
    "token_type_ids": ({"input_ids": np.array([[1, 2]]), "token_type_ids": np.array([[0, 2]])},
                       ["token_type_ids contains 2", "type_vocab_size=2"]),
    "too_long": ({"input_ids": np.ones((1, 65), np.int64)}, ["Sequence length 65", "max_position_embeddings=64",
                                                             "truncation=True"]),
}
_models: dict = {}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_inputs_name_the_problem(framework, case):
    adapter = get(framework)
    if framework not in _models:
        _models[framework] = adapter.build(tiny_config(), "BertModel", seed=0)
    batch, words = CASES[case]
    with pytest.raises(ValueError) as info:
        adapter.run(_models[framework], batch)
    for word in words:
        assert re.search(word, str(info.value)), f"{framework}: {word!r} not in {info.value}"


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_integer_weights_are_refused(framework, dtype):
    """Every framework's load path refuses a non-float tensor, naming it and its dtype (torch's rule)."""
    from conversion import CheckpointError

    adapter = get(framework)
    if framework not in _models:
        _models[framework] = adapter.build(tiny_config(), "BertModel", seed=0)
    sd = adapter.state_dict(_models[framework])
    sd["pooler.dense.bias"] = sd["pooler.dense.bias"].astype(dtype)
    with pytest.raises(CheckpointError, match=rf"pooler\.dense\.bias.*{np.dtype(dtype).name}"):
        _models[framework].model.load_schema_state_dict(sd)
