"""Describe a checkpoint without a framework: format, files, head, config summary, parameters and dtypes."""

from __future__ import annotations

import collections
import os

from conversion.api import detect_format, load_state_dict


_PATTERNS = {"safetensors": ("*.safetensors", "*.safetensors.index.json"),
             "tf-safetensors": ("*.safetensors", "*.safetensors.index.json"),
             "flax-safetensors": ("*.safetensors", "*.safetensors.index.json"),
             "bin": ("pytorch_model*.bin", "pytorch_model.bin.index.json"), "tf": ("tf_model*.h5", "tf_model*.json"),
             "flax": ("flax_model*.msgpack", "flax_model*.json"), "tf1": ("*.ckpt*.index", "*.ckpt*.data-*")}


def _files(path: str, fmt: str) -> list[str]:
    if not os.path.isdir(path):
        return [os.path.basename(path)]
    import fnmatch

    return sorted(n for n in os.listdir(path) if any(fnmatch.fnmatch(n, p) for p in _PATTERNS[fmt]))


def describe(path: str | os.PathLike) -> dict:
    """A dict with format, files, size, head, config summary, parameter count and dtype histogram."""
    from conversion.converter import read_config
    from conversion.heads import infer_config_from_shapes, infer_head

    path = os.fspath(path)
    fmt = detect_format(path)
    if fmt == "safetensors":
        from conversion.formats.safetensors_format import INDEX_NAME, WEIGHTS_NAME, read_header

        folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        first = os.path.join(folder, WEIGHTS_NAME)
        if os.path.isfile(os.path.join(folder, INDEX_NAME)):
            from conversion.formats.common import read_index

            first = os.path.join(folder, sorted(set(read_index(os.path.join(folder, INDEX_NAME)).values()))[0])
        if os.path.isfile(first):
            names = read_header(first)[1].get("format", "pt")
            fmt = {"tf": "tf-safetensors", "flax": "flax-safetensors"}.get(names, fmt)
    sd = load_state_dict(path, fmt=fmt, mmap=True)
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if any(os.path.exists(os.path.join(folder, n)) for n in ("config.json", "bert_config.json")):
        config, config_file = read_config(path)  # a config that is there but unreadable is an error naming it
    else:
        config, config_file = None, None
    dtypes: collections.Counter = collections.Counter()
    for v in sd.values():
        dtypes[str(v.dtype)] += int(v.size)
    files = _files(path, fmt)
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in files if os.path.isfile(os.path.join(folder, f)))
    head = infer_head(config, sd)
    notes: list[str] = []
    if config is not None:  # e.g. a Google run_classifier checkpoint: the label count is in the weights only
        config, notes = infer_config_from_shapes(config, sd, head)
    info = {
        "path": path, "format": fmt, "files": files, "bytes": size,
        "head": head, "tensors": len(sd), "notes": notes,
        "parameters": int(sum(v.size for v in sd.values())), "dtypes": dict(dtypes),
        "config_file": config_file and os.path.basename(config_file),
    }
    if config is not None:
        info["config"] = {k: getattr(config, k) for k in (
            "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "max_position_embeddings", "type_vocab_size", "hidden_act", "position_embedding_type")}
        info["config"]["num_labels"] = config.num_labels
        info["config"]["is_decoder"] = config.is_decoder
    return info


def format_description(info: dict) -> str:
    lines = [f"path        {info['path']}", f"format      {info['format']}",
             f"files       {', '.join(info['files'])} ({info['bytes'] / 2**20:.1f} MiB)",
             f"head        {info['head']}",
             f"parameters  {info['parameters']:,} in {info['tensors']} tensors",
             "dtypes      " + ", ".join(f"{k}: {v:,}" for k, v in sorted(info["dtypes"].items()))]
    if "config" in info:
        lines.append(f"config      ({info['config_file']}) " + ", ".join(f"{k}={v}" for k, v in info["config"].items()))
    else:
        lines.append("config      none found (config.json / bert_config.json)")
    lines += [f"note        {note}" for note in info.get("notes", ())]
    return "\n".join(lines)
