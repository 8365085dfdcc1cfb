"""Reading TF1 checkpoints without TensorFlow.

A TF1 checkpoint is a table file (``.index``: TensorFlow's LevelDB-style SSTable, uncompressed) mapping each
variable name to a ``BundleEntryProto`` (dtype, shape, shard, offset, size, crc32c), and data files holding the
raw little-endian tensor bytes. ``native_entries`` parses the index; tensors are then numpy views of the mapped
data files (no copy, no TensorFlow). Anything unusual (compressed blocks, partitioned variables, other
endianness, an unknown dtype among the variables read) makes the reader use TensorFlow's instead.
"""

from __future__ import annotations

import glob
import os
import re

import numpy as np

from conversion.errors import CheckpointError
from conversion.formats import common

DATA_FILE = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


_TABLE_MAGIC = 0xDB4775248B80FB57
_NP_DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 9: "int64", 10: "bool",
              17: "uint16", 19: "float16", 22: "uint32", 23: "uint64"}
_DT_BFLOAT16 = 14


class _Unsupported(Exception):
    """The index uses a feature the native reader leaves to TensorFlow."""


class _CorruptIndex(Exception):
    """The index fails a checksum."""


_CRC_CHUNK = 256 * 2**10  # copied to bytes (google-crc32c takes only bytes) in pieces that stay in cache


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Unsupported("bad varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of a protobuf message: ints for varint/fixed, bytes for length-delimited."""
    out, pos, end = [], 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            value, pos = bytes(buf[pos:pos + n]), pos + n
        else:
            raise _Unsupported(f"protobuf wire type {wire}")
        if pos > end:
            raise _Unsupported("truncated protobuf")
        out.append((field, wire, value))
    return out


def masked_crc32c(data) -> int:
    """TensorFlow's masked crc32c of a bytes-like object (what index entries and table blocks store):
    ``((crc >> 15 | crc << 17) + 0xa282ead8) & 0xffffffff``. Large buffers are checked 4 MiB at a time."""
    try:
        import google_crc32c
    except ImportError:
        raise CheckpointError(None, "checking a TF1 checkpoint's checksums needs google-crc32c: pip install "
                                    "google-crc32c (or read with verify=False to skip the checks).") from None
    view = memoryview(data).cast("B")
    crc = 0
    for start in range(0, len(view), _CRC_CHUNK):
        crc = google_crc32c.extend(crc, bytes(view[start:start + _CRC_CHUNK]))
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _block(data: bytes, handle: bytes, verify: bool = False) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of the table block a ``BlockHandle`` (two varints) points to; ``verify`` checks
    the block's crc32c trailer."""
    offset, pos = _varint(handle, 0, len(handle))
    size, _ = _varint(handle, pos, len(handle))
    if offset + size + 5 > len(data):
        raise _Unsupported("a block lies beyond the end of the index")
    if verify and masked_crc32c(data[offset:offset + size + 1]) != int.from_bytes(
            data[offset + size + 1:offset + size + 5], "little"):
        raise _CorruptIndex(f"the table block at byte {offset} fails its crc32c check")
    if data[offset + size] != 0:
        raise _Unsupported("compressed index block")
    block = data[offset:offset + size]
    if len(block) < 4:
        raise _Unsupported("short block")
    restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 * (restarts + 1)
    if end < 0:
        raise _Unsupported("bad block trailer")
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos, end)
        unshared, pos = _varint(block, pos, end)
        length, pos = _varint(block, pos, end)
        if shared > len(key) or pos + unshared + length > end:
            raise _Unsupported("bad block entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + length]))
        pos += length
    return entries


def native_entries(index_path: str, verify: bool = False) -> dict[str, dict]:
    """``{name: {"dtype", "shape", "shard", "offset", "size", "crc32c"}}`` from a ``.index`` file; ``verify``
    checks every table block's crc32c (raises ``CheckpointError`` naming the file on a mismatch)."""
    with open(index_path, "rb") as f:
        data = f.read()
    if len(data) < 48 or int.from_bytes(data[-8:], "little") != _TABLE_MAGIC:
        raise _Unsupported("not a table file")
    footer = data[-48:-8]
    _, pos = _varint(footer, 0, 40)  # metaindex handle (offset, size): unused
    _, pos = _varint(footer, pos, 40)
    index_handle = footer[pos:]
    out: dict[str, dict] = {}
    try:
        blocks = [_block(data, handle, verify) for _, handle in _block(data, index_handle, verify)]
    except _CorruptIndex as e:
        raise CheckpointError(index_path, f"is corrupt: {e} (bit flips or a bad copy). Copy the checkpoint again, "
                                          "or read it with verify=False to skip the checks.") from None
    for block in blocks:
        for key, value in block:
            if key == b"":  # BundleHeaderProto: num_shards = 1, endianness = 2 (0 = little), version = 3
                header = {f: v for f, _, v in _proto_fields(value)}
                if header.get(2, 0) != 0:
                    raise _Unsupported("big-endian checkpoint")
                continue
            fields = _proto_fields(value)
            entry = {"dtype": 0, "shape": [], "shard": 0, "offset": 0, "size": 0, "crc32c": None}
            for field, _, v in fields:
                if field == 1:
                    entry["dtype"] = v
                elif field == 2:
                    for f2, _, dim in _proto_fields(v):
                        if f2 == 2:
                            entry["shape"].append(next((x for f3, _, x in _proto_fields(dim) if f3 == 1), 0))
                        elif f2 == 3 and dim:
                            raise _Unsupported("unknown rank")
                elif field in (3, 4, 5, 6):
                    entry[{3: "shard", 4: "offset", 5: "size", 6: "crc32c"}[field]] = v
                elif field == 7:
                    raise _Unsupported("partitioned variable")
            out[key.decode("utf-8")] = entry
    return out


def _native_dtype(code: int) -> np.dtype:
    if code == _DT_BFLOAT16:
        return common.bfloat16()
    if code not in _NP_DTYPES:
        raise _Unsupported(f"dtype {code}")
    return np.dtype(_NP_DTYPES[code]).newbyteorder("<")


def native_reader(prefix: str, verify: bool = True):
    """(specs, get_tensor) reading the mapped data files directly, or None when TensorFlow must read it.

    ``specs`` maps each variable to its ``(shape, dtype)`` (dtype None when numpy has none). With ``verify``,
    the index's table blocks and every tensor ``get_tensor`` returns are checked against their stored crc32c
    (about 40 ms per 100 MB, page faults included); a mismatch raises CheckpointError naming the variable and
    the data file.
    """
    import mmap

    try:
        entries = native_entries(prefix + ".index", verify)
    except CheckpointError:
        raise
    except (_Unsupported, UnicodeDecodeError, IndexError, ValueError):
        return None
    data = sorted(glob.glob(glob.escape(prefix) + ".data-?????-of-?????"))
    total = int(DATA_FILE.search(data[0]).group(2))
    maps: dict[int, common.ReadOnlyMap] = {}

    def get_tensor(name: str) -> np.ndarray:
        entry = entries[name]
        try:
            dtype = _native_dtype(entry["dtype"])
        except _Unsupported:
            raise CheckpointError(prefix, f"variable {name} has a dtype bertzoo cannot read "
                                          f"(TensorFlow DataType {entry['dtype']}).") from None
        shard, offset, size = entry["shard"], entry["offset"], entry["size"]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        file = f"{prefix}.data-{shard:05d}-of-{total:05d}"
        if shard >= total or count * dtype.itemsize != size:
            raise CheckpointError(prefix, f"variable {name}: the index entry (shard {shard}, {size} bytes for shape "
                                          f"{entry['shape']}) does not fit the checkpoint; it is corrupt.")
        if shard not in maps:
            with open(file, "rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    raise CheckpointError(file, "is empty (0 bytes); copy the data file again.")
                maps[shard] = common.ReadOnlyMap(f.fileno(), 0, access=mmap.ACCESS_READ)
        buf = maps[shard]
        if offset + size > len(buf):
            raise CheckpointError(file, f"is truncated: variable {name} ends at byte {offset + size}, the file has "
                                        f"{len(buf)}. Copy the data file again.")
        if verify and entry["crc32c"] is not None \
                and masked_crc32c(memoryview(buf)[offset:offset + size]) != entry["crc32c"]:
            raise CheckpointError(file, f"variable {name} fails its crc32c check: the data file is corrupt (bit "
                                        "flips or a bad copy). Copy the checkpoint again, or read it with "
                                        "verify=False to skip the checks.")
        if size == 0:
            return np.empty(entry["shape"], dtype)
        return np.frombuffer(buf, dtype=dtype, count=count, offset=offset).reshape(entry["shape"])

    def spec(entry: dict):
        try:
            dtype = _native_dtype(entry["dtype"])
        except _Unsupported:
            dtype = None
        return tuple(entry["shape"]), dtype

    return {k: spec(v) for k, v in entries.items()}, get_tensor
