"""Every format module has the same read / read_shapes / write signature; an unknown keyword is a TypeError, and
no format is silently missing from the conversion tests."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from conversion import load_state_dict, read_shapes, save_state_dict
from conversion.formats import FORMATS, format_module
from tests.conftest import TINY
from tests.conversion.conftest import missing_for_formats

READ = ["path", "mmap", "verify", "skipped"]
WRITE = ["state_dict", "folder", "head", "max_shard_size"]


def test_every_format_can_run_here():
    """A format whose module or framework is missing is a failure of the conversion tests, never a skip."""
    assert not missing_for_formats(), f"missing here: {', '.join(missing_for_formats())}"


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_one_signature_for_every_format(fmt):
    module = format_module(fmt)
    read = inspect.signature(module.read).parameters
    assert list(read) == READ, (fmt, list(read))
    assert all(read[k].kind is inspect.Parameter.KEYWORD_ONLY for k in READ[1:])
    assert (read["mmap"].default, read["verify"].default, read["skipped"].default) == (False, True, None)
    write = inspect.signature(module.write).parameters
    assert list(write) == WRITE, (fmt, list(write))
    assert all(write[k].kind is inspect.Parameter.KEYWORD_ONLY and write[k].default is None for k in WRITE[2:])
    assert list(inspect.signature(module.read_shapes).parameters) == ["path"]
    assert not hasattr(__import__("conversion.formats.common", fromlist=["x"]), "accepts")


def test_unknown_keywords_are_type_errors(tmp_path):
    src = TINY / "BertModel" / "pt"
    with pytest.raises(TypeError):
        load_state_dict(src, mmapp=True)
    with pytest.raises(TypeError):
        format_module("safetensors").read(str(src), verify_checksum=False)
    sd = load_state_dict(src)
    with pytest.raises(TypeError):
        save_state_dict(sd, tmp_path, "safetensors", max_shard=10)
    with pytest.raises(TypeError):
        format_module("tf").write(sd, str(tmp_path), heads="BertModel")


@pytest.mark.parametrize("fmt", ["tf", "flax"])
def test_max_shard_size_is_refused_where_it_cannot_apply(fmt, tmp_path):
    sd = load_state_dict(TINY / "BertModel" / "pt")
    with pytest.raises(ValueError, match="one file"):
        save_state_dict(sd, tmp_path, fmt, max_shard_size=10_000)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_read_shapes_agrees_with_load(fmt, tmp_path, fixture_state_dicts):
    ref = fixture_state_dicts["BertForPreTraining"]
    save_state_dict(ref, tmp_path, fmt, head="BertForPreTraining")
    specs = read_shapes(tmp_path)
    assert {k: (s.shape, np.dtype(s.dtype)) for k, s in specs.items()} == \
        {k: (v.shape, v.dtype) for k, v in ref.items()}


@pytest.mark.parametrize("src", ["tf", "flax"])
def test_read_shapes_of_transformers_files(src, fixture_state_dicts):
    for head in ("BertModel", "BertForQuestionAnswering"):
        specs = read_shapes(TINY / head / src)
        assert {k: s.shape for k, s in specs.items()} == {k: v.shape for k, v in fixture_state_dicts[head].items()}
