"""``bert_core.host_memory``: freed blocks stay in the process (no page faults when a large block is allocated
again), the choice is validated, and nothing happens unless asked (each case in a fresh interpreter: the setting
is process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bert_core import host_memory

# Allocate, touch and free a 256 MB block twice; print the minor page faults of the second round.
# (C malloc, as XLA and torch allocate; numpy asks for huge pages, which hides the faults)
_PROBE = """
import ctypes, resource, sys
from bert_core import host_memory
applied = host_memory.configure(sys.argv[1])
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size = 256 * 1024 * 1024
for round in range(2):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
print(int(applied), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def _probe(choice: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, choice], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied == "1", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_retain_reuses_freed_memory():
    applied, retained = _probe("retain")
    assert applied
    _, system = _probe("system")
    pages = 256 * 1024 * 1024 // 4096
    assert system > pages // 2  # glibc maps a fresh block and faults it in again
    assert retained < pages // 20  # the freed block is reused


def test_unknown_choice():
    with pytest.raises(ValueError, match="retain, system"):
        host_memory.configure("jemalloc")
