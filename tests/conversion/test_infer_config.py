"""Google's run_classifier checkpoints record no label count: it comes from output_weights' first dimension."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bert_core.config import BertConfig
from conversion import convert, infer_config_from_shapes, load_state_dict, read_shapes, save_state_dict
from conversion.converter import GOOGLE_KEYS
from tests.conftest import TINY

HEAD = "BertForSequenceClassification"


@pytest.fixture
def google_three_labels(tmp_path, fixture_state_dicts):
    """A TF1 run_classifier checkpoint with 3 labels and Google's bert_config.json (no label count in it)."""
    sd = fixture_state_dicts[HEAD]
    assert sd["classifier.weight"].shape[0] == 3
    folder = tmp_path / "google"
    save_state_dict(sd, folder, "tf1")
    config = json.loads((TINY / HEAD / "pt" / "config.json").read_text())
    (folder / "bert_config.json").write_text(json.dumps({k: config[k] for k in GOOGLE_KEYS}))
    return folder


def test_a_three_label_run_classifier_checkpoint_converts(google_three_labels, tmp_path, fixture_state_dicts):
    plan = convert(google_three_labels, tmp_path / "pt", "pt")
    assert plan.head == HEAD and plan.count("missing") == 0
    assert any("num_labels=3" in note and "classifier.weight" in note for note in plan.notes), plan.notes
    assert "note: num_labels=3" in plan.table()
    config = json.loads((tmp_path / "pt" / "config.json").read_text())
    assert config["id2label"] == {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    assert config["label2id"] == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    out = load_state_dict(tmp_path / "pt")
    assert np.array_equal(out["classifier.weight"], fixture_state_dicts[HEAD]["classifier.weight"])


def test_infer_from_cheap_shapes(google_three_labels):
    config = BertConfig.from_json_file(google_three_labels / "bert_config.json")
    assert config.num_labels == 2
    new, notes = infer_config_from_shapes(config, read_shapes(google_three_labels))
    assert new.num_labels == 3 and new.label2id == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2} and notes
    assert config.num_labels == 2  # the given config is not modified


def test_configs_that_say_the_labels_are_left_alone():
    shapes = {"bert.pooler.dense.weight": (32, 32), "classifier.weight": (3, 32), "classifier.bias": (3,)}
    named = BertConfig(id2label={0: "neg", 1: "pos"})
    assert infer_config_from_shapes(named, shapes) == (named, [])
    three = BertConfig(num_labels=3)
    assert infer_config_from_shapes(three, shapes) == (three, [])
    mc = BertConfig()
    assert infer_config_from_shapes(mc, {**shapes, "classifier.weight": (1, 32)}, "BertForMultipleChoice") \
        == (mc, [])
    plain = BertConfig()
    assert infer_config_from_shapes(plain, {"bert.pooler.dense.weight": (32, 32)}) == (plain, [])
    token, notes = infer_config_from_shapes(BertConfig(), {"classifier.weight": np.zeros((5, 32))})
    assert token.num_labels == 5 and "LABEL_4" in notes[0]


def test_inspect_reports_the_inferred_label_count(google_three_labels):
    from bertzoo.inspection import describe, format_description

    info = describe(google_three_labels)
    assert info["config"]["num_labels"] == 3
    assert any("num_labels=3" in note for note in info["notes"])
    assert "note        num_labels=3" in format_description(info)
