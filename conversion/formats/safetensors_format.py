"""HF safetensors checkpoints: ``model.safetensors`` and sharded ``model.safetensors.index.json``.

The metadata ``format`` key says which framework's names the file holds: ``pt`` (the schema itself; also ``mlx``,
which uses the same names), ``tf`` (transformers' TF weight names with ``:0``, mapped through
``conversion.names.tf``) or ``flax`` (``.``-joined Flax parameter paths, mapped through ``conversion.names.flax``).

The reader parses and checks the header itself (sizes, offsets, dtypes) and maps the file, so a broken file gets a
clear ``CheckpointError`` and ``mmap=True`` returns zero-copy read-only views. The writer streams tensor by tensor
into a temporary file that is renamed at the end.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Mapping

import numpy as np

from conversion.errors import CheckpointError
from conversion.formats import common, sharding
from conversion.schema import StateDict, TensorSpec

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
NAME_FORMATS = ("pt", "tf", "flax")
_MAX_HEADER = 100 * 2**20
_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32", "I16": "int16",
           "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}
_ML_DTYPES = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def _np_dtype(code: str) -> np.dtype:
    if code in _DTYPES:
        return np.dtype(_DTYPES[code]).newbyteorder("<")
    import ml_dtypes

    return np.dtype(getattr(ml_dtypes, _ML_DTYPES[code]))


def _st_dtype(dtype: np.dtype) -> str:
    for code, name in {**_DTYPES, **_ML_DTYPES}.items():
        if np.dtype(dtype).name == name:
            return code
    raise ValueError(f"dtype {dtype} cannot be stored in safetensors")


def read_header(path: str) -> tuple[dict[str, dict], dict[str, str], int]:
    """(tensor entries, metadata, data start offset) of a safetensors file, every field checked."""
    common.check_file(path, "safetensors file")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise CheckpointError(path, f"is truncated: {size} bytes, too short for a safetensors header.")
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER or 8 + n > size:
            raise CheckpointError(path, f"has a bad safetensors header: it claims {n} header bytes but the file "
                                        f"has {size}. The file is truncated or not safetensors.")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CheckpointError(path, f"has a bad safetensors header (not valid JSON: {e}).") from None
    if not isinstance(header, dict):
        raise CheckpointError(path, "has a bad safetensors header (not a JSON object).")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(path, "has bad safetensors metadata (it must map strings to strings).")
    data_len = size - 8 - n
    spans = []
    for name, entry in header.items():
        try:
            code, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            assert all(isinstance(d, int) and d >= 0 for d in shape) and isinstance(begin, int) \
                and isinstance(end, int)
        except (TypeError, KeyError, ValueError, AssertionError):
            raise CheckpointError(path, f"has a bad header entry for tensor {name!r}: {entry!r}.") from None
        if code not in _DTYPES and code not in _ML_DTYPES:
            raise CheckpointError(path, f"tensor {name!r} has dtype {code!r}, which bertzoo cannot read.")
        itemsize = 2 if code == "BF16" else 1 if code.startswith("F8") else np.dtype(_DTYPES[code]).itemsize
        if end - begin != int(np.prod(shape, dtype=np.int64)) * itemsize or begin > end:
            raise CheckpointError(path, f"tensor {name!r}: offsets {begin}..{end} do not fit shape {shape} of "
                                        f"{code}.")
        if end > data_len:
            raise CheckpointError(path, f"is truncated: tensor {name!r} ends at byte {end} of the data but only "
                                        f"{data_len} bytes are there. Download or save the file again.")
        spans.append((begin, end))
    spans.sort()
    covered = 0
    for begin, end in spans:
        if begin != covered:
            raise CheckpointError(path, "has a bad safetensors header: tensor data overlap or leave gaps.")
        covered = end
    if covered != data_len:
        raise CheckpointError(path, f"has {data_len - covered} bytes after the last tensor; the header and the "
                                    "data disagree.")
    return header, metadata, 8 + n


def read_file(path: str, mmap_: bool = False) -> tuple[StateDict, dict[str, str]]:
    """Read one safetensors file: (tensors in file order, metadata). ``mmap_`` returns read-only views."""
    header, metadata, start = read_header(path)
    out: StateDict = {}
    if not header:
        return out, metadata
    with open(path, "rb") as f:
        buf = common.ReadOnlyMap(f.fileno(), 0, access=mmap.ACCESS_READ)
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    for name, entry in entries:
        begin, end = entry["data_offsets"]
        dtype = _np_dtype(entry["dtype"])
        view = np.frombuffer(buf, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=start + begin)
        view = view.reshape(entry["shape"])
        out[name] = view if mmap_ else view.copy()
    return out, metadata


def _names_format(path: str, metadata: dict[str, str]) -> str:
    fmt = metadata.get("format", "pt")
    if fmt == "mlx":
        fmt = "pt"
    if fmt not in NAME_FORMATS:
        raise CheckpointError(path, f"has metadata format {fmt!r}; bertzoo reads safetensors written for "
                                    f"{', '.join(NAME_FORMATS)} (and mlx).")
    return fmt


def to_schema(tensors: StateDict, fmt: str) -> StateDict:
    """Map tensors named for ``fmt`` ('pt', 'tf', 'flax') to schema names."""
    if fmt == "pt":
        return tensors
    if fmt == "tf":
        from conversion.names.tf import tf_to_schema

        return tf_to_schema({(k[:-2] if k.endswith(":0") else k): v for k, v in tensors.items()})
    from conversion.names.flax import flax_to_schema

    return flax_to_schema({k.replace(".", "/"): v for k, v in tensors.items()})


def from_schema(state_dict: StateDict, fmt: str, head: str | None = None) -> StateDict:
    """Name schema tensors as transformers' ``fmt`` ('pt', 'tf', 'flax') safetensors files do."""
    if fmt == "pt":
        return dict(state_dict)
    if fmt == "tf":
        from conversion.heads import infer_head
        from conversion.names.tf import schema_to_tf

        named = schema_to_tf(state_dict, head or infer_head(None, state_dict))
        return {(k if k.endswith(":0") else k + ":0"): v for k, v in named.items()}
    from conversion.names.flax import schema_to_flax

    return {k.replace("/", "."): v for k, v in schema_to_flax(state_dict).items()}


def _resolve(path: str) -> str:
    if os.path.isdir(path):
        index = os.path.join(path, INDEX_NAME)
        path = index if os.path.isfile(index) else os.path.join(path, WEIGHTS_NAME)
    return path


def _shard_key(name: str) -> str:
    """The name an index and a shard are compared by: transformers' sharded TF safetensors index the weights with
    the model name (``tf_bert_model/bert/...:0``), the shards hold them without it."""
    if "/" not in name:
        return name
    from conversion.names.tf import _strip_model_name

    return _strip_model_name(name)


def _one_names_format(path: str, formats: set[str]) -> str:
    if len(formats) > 1:
        raise CheckpointError(path, f"mixes shards with names for {', '.join(sorted(formats))}.")
    return formats.pop() if formats else "pt"


def read(path: str, *, mmap: bool = False, verify: bool = True, skipped: dict[str, str] | None = None
         ) -> StateDict:
    """Read a safetensors checkpoint (a file, an index, or a folder holding either) into the schema.

    Files written with TF or Flax names (metadata ``format`` 'tf' / 'flax') are mapped to schema names.
    ``mmap=True`` returns read-only arrays backed by the file (no copy; used by ``conversion.convert``).
    ``verify``: safetensors stores no checksums (the header is checked either way). ``skipped``: nothing is
    skipped.
    """
    path = _resolve(path)
    formats: set[str] = set()

    def one(file: str) -> StateDict:
        tensors, metadata = read_file(file, mmap)
        formats.add(_names_format(file, metadata))
        return tensors

    tensors = sharding.read_sharded(path, one, key=_shard_key) if path.endswith(".json") else one(path)
    fmt = _one_names_format(path, formats)
    try:
        return to_schema(tensors, fmt)
    except (KeyError, ValueError, AssertionError) as e:
        raise CheckpointError(path, f"holds {fmt!r} names that do not map to BERT's: {e}") from None


def read_shapes(path: str) -> dict[str, TensorSpec]:
    """Schema name -> (shape, dtype) of every tensor, from the header(s) alone (no tensor data is read)."""
    path = _resolve(path)
    formats: set[str] = set()

    def one(file: str) -> dict[str, TensorSpec]:
        header, metadata, _ = read_header(file)
        formats.add(_names_format(file, metadata))
        return {k: TensorSpec(tuple(v["shape"]), _np_dtype(v["dtype"])) for k, v in header.items()}

    specs = sharding.read_sharded(path, one, key=_shard_key) if path.endswith(".json") else one(path)
    fmt = _one_names_format(path, formats)
    try:
        if fmt == "tf":
            from conversion.names.tf import tf_specs_to_schema

            return tf_specs_to_schema(specs)
        if fmt == "flax":
            from conversion.names.flax import flax_specs_to_schema

            return flax_specs_to_schema({k.replace(".", "/"): v for k, v in specs.items()})
    except (KeyError, ValueError) as e:
        raise CheckpointError(path, f"holds {fmt!r} names that do not map to BERT's: {e}") from None
    return specs


def write_file(state_dict: Mapping[str, np.ndarray], path: str, metadata: dict[str, str] | None = None,
               desc: str | None = None) -> None:
    """Stream ``state_dict`` into one safetensors file (via a temporary file renamed at the end)."""
    from bert_core.files import atomic_path

    entries, offset = {}, 0
    order = sorted(state_dict, key=lambda k: (-np.dtype(state_dict[k].dtype).itemsize, k))
    for name in order:
        value = state_dict[name]
        entries[name] = {"dtype": _st_dtype(value.dtype), "shape": list(value.shape),
                         "data_offsets": [offset, offset + int(value.nbytes)]}
        offset += int(value.nbytes)
    header = {"__metadata__": {"format": "pt", **(metadata or {})}, **entries}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    items = ((k, state_dict[k]) for k in order)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for _, original in common.progress(items, offset, desc or os.path.basename(path)):
            value = original
            if value.dtype.byteorder == ">":
                value = value.astype(value.dtype.newbyteorder("<"))
            if value.size:
                f.write(np.ascontiguousarray(value).reshape(-1).view(np.uint8).data)
            common.release(original)


def write(state_dict: StateDict, folder: str, *, head: str | None = None, max_shard_size: int | None = None
          ) -> list[str]:
    """Write ``state_dict`` (schema names) into ``folder`` as model.safetensors, or shards plus an index above
    ``max_shard_size`` bytes. ``head`` is not needed for schema names. Returns the file names written."""
    return write_named(state_dict, folder, "pt", head=head, max_shard_size=max_shard_size)


def write_named(state_dict: StateDict, folder: str, names: str, *, head: str | None = None,
                max_shard_size: int | None = None) -> list[str]:
    """Write ``state_dict`` into ``folder`` as model.safetensors, or shards plus an index above max_shard_size.

    ``names`` picks the tensor names and the metadata ``format``: 'pt' (schema names, what PyTorch reads), 'tf'
    or 'flax' (what transformers' TF / Flax ``from_pretrained`` reads; ``head`` picks TF's head layer names and is
    inferred from the names when None). Returns the file names written. Each file is written atomically; the
    caller makes the whole folder write atomic (``bert_core.files.atomic_folder``).
    """
    if names not in NAME_FORMATS:
        raise ValueError(f"names must be one of {', '.join(NAME_FORMATS)}, got {names!r}.")
    common.check_tensors(state_dict, None)
    named = from_schema(state_dict, names, head)
    os.makedirs(folder, exist_ok=True)
    shards = sharding.plan_shards(named, max_shard_size)
    metadata = {"format": names}
    if len(shards) == 1:
        write_file(named, os.path.join(folder, WEIGHTS_NAME), metadata)
        return [WEIGHTS_NAME]
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map = {}
    for file, shard in zip(files, shards):
        write_file({k: named[k] for k in shard}, os.path.join(folder, file), metadata)
        weight_map.update({k: file for k in shard})
    sharding.write_index(folder, INDEX_NAME, weight_map, common.total_bytes(named))
    return [*files, INDEX_NAME]

