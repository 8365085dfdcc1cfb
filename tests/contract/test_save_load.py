"""``save_pretrained`` to a folder and ``adapter.load`` back, every framework x head: the same weights bit for bit
and the same outputs (1e-6); the folder holds ``config.json`` and the framework's own weights file. The default
run saves the base model (names without the ``bert.`` prefix) and the pre-training head (MLM with the tied decoder
and NSP); the other heads are ``slow`` (their files are read in every framework by ``test_fixtures``)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import HEADS
from tests.contract.builders import assert_outputs_close, head_batch, head_config
from tests.contract.conftest import FRAMEWORKS, get

WEIGHTS_FILE = {"pt": "model.safetensors", "tf": "tf_model.h5", "flax": "flax_model.msgpack"}


FAST_HEADS = ("BertModel", "BertForPreTraining")


@pytest.mark.parametrize("head", [h if h in FAST_HEADS else pytest.param(h, marks=pytest.mark.slow) for h in HEADS])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_save_pretrained_round_trip(tmp_path, framework, head):
    adapter = get(framework)
    config = head_config(head)
    model = adapter.build(config, head, seed=0)
    model.model.save_pretrained(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["config.json", WEIGHTS_FILE[framework]])
    again = adapter.load(str(tmp_path), head, device=-1)
    assert type(again.model) is type(model.model)
    before, after = adapter.state_dict(model), adapter.state_dict(again)
    assert set(before) == set(after)
    for name, value in before.items():
        assert np.array_equal(after[name], value), name
    batch = head_batch(head, config)
    assert_outputs_close(adapter.run(again, batch), adapter.run(model, batch), 1e-6, f"{framework} {head}")
