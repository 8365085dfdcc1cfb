"""conversion/names/flax.py: the one table between the schema and transformers' Flax paths."""

import numpy as np
import pytest

from conversion.names.flax import flax_to_schema, schema_to_flax
from conversion.schema import normalize


def _sd():
    rng = np.random.default_rng(0)
    return {
        "bert.embeddings.word_embeddings.weight": rng.random((10, 4)),
        "bert.embeddings.LayerNorm.weight": rng.random(4),
        "bert.encoder.layer.0.attention.self.query.weight": rng.random((6, 4)),
        "bert.encoder.layer.0.attention.self.distance_embedding.weight": rng.random((7, 2)),
        "bert.encoder.layer.0.crossattention.self.key.bias": rng.random(6),
        "cls.predictions.bias": rng.random(10),
        "cls.predictions.decoder.weight": rng.random((10, 4)),
        "classifier.weight": rng.random((3, 4)),
    }


def test_round_trip_and_layout():
    sd = _sd()
    flat = schema_to_flax(sd)
    assert set(flat) == {
        "bert/embeddings/word_embeddings/embedding", "bert/embeddings/LayerNorm/scale",
        "bert/encoder/layer/0/attention/self/query/kernel",
        "bert/encoder/layer/0/attention/self/distance_embedding/embedding",
        "bert/encoder/layer/0/crossattention/self/key/bias", "cls/predictions/bias",
        "cls/predictions/decoder/kernel", "classifier/kernel"}
    assert flat["bert/encoder/layer/0/attention/self/query/kernel"].shape == (4, 6)  # [in, out]
    back = flax_to_schema(flat)
    assert set(back) == set(sd) and all(np.array_equal(back[k], sd[k]) for k in sd)


def test_tied_decoder_absent_on_both_sides():
    sd = normalize({"cls.predictions.decoder.bias": np.zeros(10), "cls.predictions.transform.dense.weight":
                    np.zeros((4, 4))})
    assert set(schema_to_flax(sd)) == {"cls/predictions/bias", "cls/predictions/transform/dense/kernel"}


def test_shape_asserts():
    with pytest.raises(ValueError, match="matrix"):
        schema_to_flax({"classifier.weight": np.zeros(3)})
    with pytest.raises(ValueError, match="vector"):
        flax_to_schema({"classifier/bias": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="not a BERT"):
        flax_to_schema({"classifier/weird": np.zeros(3)})
