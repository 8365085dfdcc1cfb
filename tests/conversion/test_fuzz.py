"""Property-based fuzzing of every reader: a mutated valid file (bytes changed, truncated, extended) gives a valid
load or a CheckpointError / ValueError naming the file, within a time and memory bound; never another
exception, a hang or a crash.

The default run is a few hundred derandomized examples; ``-m slow`` runs many more, randomly.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversion import CheckpointError, load_state_dict, read_shapes, save_state_dict
from conversion.converter import read_config
from tests.conftest import TINY

TIME_LIMIT_S = 5.0  # per example, on a loaded 2-core machine; a valid load takes milliseconds
MEMORY_LIMIT = 64 * 2**20  # peak Python/numpy allocation per example (the checkpoint is ~150 KB), slow run
RSS_LIMIT = 512 * 2**20  # growth of the process's peak resident memory over one target's examples
# target name -> (format saved, file mutated)
TARGETS = {"safetensors": ("safetensors", "model.safetensors"), "bin": ("bin", "pytorch_model.bin"),
           "h5": ("tf", "tf_model.h5"), "msgpack": ("flax", "flax_model.msgpack"),
           "tf1-index": ("tf1", "bert_model.ckpt.index"), "tf1-data": ("tf1", "bert_model.ckpt.data-00000-of-00001"),
           "config": ("safetensors", "config.json")}


@pytest.fixture(scope="module")
def originals(tmp_path_factory, fixture_state_dicts):
    """One valid checkpoint folder per format (BertModel, tiny) and the bytes of each mutated file."""
    root = tmp_path_factory.mktemp("fuzz")
    out = {}
    for target, (fmt, name) in TARGETS.items():
        folder = root / target
        if not folder.exists():
            save_state_dict(fixture_state_dicts["BertModel"], folder, fmt, head="BertModel")
            shutil.copyfile(TINY / "BertModel" / "pt" / "config.json", folder / "config.json")
        out[target] = (folder, (folder / name).read_bytes())
    return out


def _mutations(size: int, header: int):
    """Byte edits biased to the first ``header`` bytes (where the structure is), plus truncation or extension."""
    position = st.one_of(st.integers(0, max(0, min(size, header) - 1)), st.integers(0, max(0, size - 1)))
    edit = st.tuples(position, st.integers(0, 255))
    return st.tuples(st.lists(edit, max_size=6),
                     st.one_of(st.none(), st.integers(0, size), st.binary(min_size=1, max_size=64)))


def _mutate(data: bytes, edits, tail) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        if pos < len(buf):
            buf[pos] = value
    if isinstance(tail, int):
        del buf[tail:]
    elif isinstance(tail, bytes):
        buf += tail
    return bytes(buf)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _load(target: str, folder, mmap: bool, verify: bool) -> None:
    if target == "config":
        read_config(str(folder))
        return
    sd = load_state_dict(folder, mmap=mmap, verify=verify)
    for value in sd.values():  # touch every byte: a mapping past the end of the file would crash here
        float(np.asarray(value, dtype=np.float64).sum())
    read_shapes(folder)


def check_one(target: str, folder, original: bytes, edits, tail, mmap: bool, verify: bool, trace: bool) -> None:
    """One mutated file; ``trace`` bounds each example's peak allocation with tracemalloc (4x slower)."""
    name = TARGETS[target][1]
    data = _mutate(original, edits, tail)
    tmp = folder / (name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)  # a new inode: mappings of the previous example stay valid
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        _load(target, folder, mmap, verify)
    except (CheckpointError, ValueError) as e:
        text = str(e)
        assert str(folder) in text or name in text, f"{target}: the error does not name the file: {text}"
    except _Hang:
        pytest.fail(f"{target}: reading a mutated file took over {TIME_LIMIT_S} s (edits {edits}, tail {tail!r})")
    except Exception as e:  # noqa: BLE001 - the property: nothing else escapes
        pytest.fail(f"{target}: {type(e).__name__}: {e} (edits {edits}, tail {tail!r})")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT_S, f"{target}: {elapsed:.1f} s"
    assert peak < MEMORY_LIMIT, f"{target}: peak allocation {peak / 2**20:.0f} MiB (edits {edits}, tail {tail!r})"


def _header_size(target: str, data: bytes) -> int:
    if target == "safetensors":
        return 8 + int.from_bytes(data[:8], "little")
    return {"bin": 4096, "h5": 4096, "msgpack": 2048, "tf1-index": len(data), "tf1-data": 512,
            "config": len(data)}[target]


def _run(originals, target: str, examples: int, derandomize: bool, trace: bool) -> None:
    folder, original = originals[target]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(max_examples=examples, deadline=None, derandomize=derandomize, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutation=_mutations(len(original), _header_size(target, original)), mmap=st.booleans(),
           verify=st.booleans())
    def prop(mutation, mmap, verify):
        check_one(target, folder, original, *mutation, mmap, verify, trace)

    prop()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    assert grown < RSS_LIMIT, f"{target}: peak resident memory grew by {grown / 2**20:.0f} MiB"


@pytest.mark.parametrize("target", list(TARGETS))
def test_mutated_files_load_or_fail_clearly(originals, target):
    _run(originals, target, 40, derandomize=True, trace=False)


@pytest.mark.slow
@pytest.mark.parametrize("target", list(TARGETS))
def test_mutated_files_load_or_fail_clearly_long(originals, target):
    _run(originals, target, 1000, derandomize=False, trace=True)
