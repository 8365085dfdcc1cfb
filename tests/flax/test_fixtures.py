"""transformers' own checkpoints (flax_model.msgpack and model.safetensors) reproduce its reference outputs."""

import numpy as np
import pytest

import bert_flax
from conversion import CheckpointError
from conversion.formats import flax_msgpack
from tests.conftest import ATOL, HEADS, REFERENCE_FIELDS, TINY, reference_inputs
from tests.flax.helpers import max_diff


def test_parameter_tree_matches_transformers_file():
    for head in HEADS:
        model = bert_flax.MODEL_CLASSES[head].from_pretrained(TINY / head / "pt")
        ours = {"/".join(k): v.shape for k, v in _flatten(model.params).items()}
        theirs = {k: v.shape for k, v in flax_msgpack.read_flat(str(TINY / head / "flax")).items()}
        assert ours == theirs, head


def _flatten(tree, prefix=()):
    out = {}
    for k, v in tree.items():
        out.update(_flatten(v, prefix + (k,)) if isinstance(v, dict) else {prefix + (k,): v})
    return out


@pytest.mark.parametrize("head", ["BertForPreTraining", "BertModel"])
def test_save_pretrained_round_trip_and_flax_serialization_reads_it(tmp_path, reference, head):
    from flax.serialization import msgpack_restore

    model = bert_flax.MODEL_CLASSES[head].from_pretrained(TINY / head / "flax")
    names = model.save_pretrained(tmp_path / "out")
    assert sorted(names) == ["config.json", "flax_model.msgpack"]
    written = (tmp_path / "out" / "flax_model.msgpack").read_bytes()
    assert written == (TINY / head / "flax" / "flax_model.msgpack").read_bytes()  # byte-identical to transformers
    restored = msgpack_restore(written)
    assert {"/".join(k) for k in _flatten(restored)} == {"/".join(k) for k in _flatten(model.params)}
    again = bert_flax.MODEL_CLASSES[head].from_pretrained(tmp_path / "out")
    out = again(**reference_inputs(reference, head))
    for field in REFERENCE_FIELDS[head]:
        assert max_diff(out[field], reference[f"{head}.{field}"]) <= ATOL


def test_truncated_and_corrupt_files_name_the_file(tmp_path):
    data = (TINY / "BertModel" / "flax" / "flax_model.msgpack").read_bytes()
    for name, payload in (("truncated", data[: len(data) // 2]), ("corrupt", b"\xc1\x00garbage" * 10),
                          ("empty", b"")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "flax_model.msgpack").write_bytes(payload)
        with pytest.raises(CheckpointError, match="flax_model.msgpack"):
            flax_msgpack.read(str(folder))


def test_reading_does_not_import_jax(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from conversion.formats import flax_msgpack; "
            f"sd = flax_msgpack.read({str(TINY / 'BertModel' / 'flax')!r}); "
            f"flax_msgpack.write(sd, {str(tmp_path)!r}); "
            "assert 'jax' not in sys.modules and 'flax' not in sys.modules, 'imported jax'; print(len(sd))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) > 10


def test_bfloat16_file_round_trip(tmp_path):
    import ml_dtypes

    sd = flax_msgpack.read(str(TINY / "BertModel" / "flax"))
    bf = {k: v.astype(ml_dtypes.bfloat16) for k, v in sd.items()}
    flax_msgpack.write(bf, str(tmp_path))
    back = flax_msgpack.read(str(tmp_path))
    assert all(back[k].dtype == bf[k].dtype and np.array_equal(back[k], bf[k]) for k in bf)
    from flax.serialization import msgpack_restore
    tree = msgpack_restore((tmp_path / "flax_model.msgpack").read_bytes())
    assert str(tree["embeddings"]["word_embeddings"]["embedding"].dtype) == "bfloat16"
