"""Convert a checkpoint folder (or TF1 prefix) to another format: weights, config and tokenizer files.

``convert(src, dst, to)`` reads the source through the interchange schema, checks every tensor against the
config and head (names and shapes), and writes the target format, ``config.json`` (``bert_config.json`` for TF1)
and the tokenizer files into ``dst`` atomically: a failure leaves ``dst`` as it was. ``dry_run=True`` writes
nothing and returns the plan: which tensors map to which target names, and which are skipped, missing or
unexpected.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil

import numpy as np

from bert_core.config import CONFIG_NAME, GOOGLE_CONFIG_NAME, BertConfig, ConfigError
from bert_core.files import atomic_folder, check_folder
from bert_core.heads import framework_class_name
from conversion.api import detect_format, load_state_dict, save_state_dict
from conversion.errors import CheckpointError, WeightMismatchError
from conversion.formats import ALIASES, FORMATS
from conversion.heads import TIED_DECODER_WEIGHT, expected_shapes, infer_config_from_shapes, infer_head
from conversion.schema import StateDict, match_prefix

logger = logging.getLogger("conversion")

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json")
OTHER_FILES = ("generation_config.json",)
# Framework whose class names config.json's "architectures" gets for each target format.
_FRAMEWORK = {"safetensors": "pt", "bin": "pt", "tf": "tf", "tf-safetensors": "tf", "flax": "flax",
              "flax-safetensors": "flax", "tf1": "pt"}
# bert_config.json keys of Google's original BertConfig, written first.
GOOGLE_KEYS = ("attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
               "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads",
               "num_hidden_layers", "type_vocab_size", "vocab_size")


@dataclasses.dataclass
class Row:
    status: str  # mapped | skipped | missing | unexpected
    source: str
    target: str
    shape: tuple[int, ...]
    dtype: str
    note: str = ""


@dataclasses.dataclass
class Plan:
    """What a conversion does (or did): source and target format, head, and one row per tensor."""

    src: str
    dst: str
    src_format: str
    to: str
    head: str
    rows: list[Row]
    files: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)  # what was inferred (e.g. num_labels)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    def table(self) -> str:
        """A plain-text table: status, source name, target name, shape, dtype, note."""
        head = ("status", "source tensor", "target tensor", "shape", "dtype", "note")
        body = [(r.status, r.source or "-", r.target or "-", "x".join(map(str, r.shape)) or "scalar", r.dtype,
                 r.note) for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in (head, *body)]
        summary = ", ".join(f"{self.count(s)} {s}" for s in ("mapped", "skipped", "missing", "unexpected"))
        return "\n".join([f"{self.src} ({self.src_format}) -> {self.dst} ({self.to}), head {self.head}: {summary}",
                          *(f"note: {n}" for n in self.notes), *lines])


def _source_folder(src: str) -> str:
    return src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src))


def read_config(src: str) -> tuple[BertConfig, str]:
    """The config of a checkpoint (config.json, else Google's bert_config.json) and the file it came from."""
    folder = _source_folder(src)
    for name in (CONFIG_NAME, GOOGLE_CONFIG_NAME):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            try:
                return BertConfig.from_json_file(path), path
            except (ConfigError, UnicodeDecodeError, TypeError, ValueError, RecursionError) as e:
                # a config with bytes that are not UTF-8, or values of the wrong type (``"id2label": 5``)
                raise CheckpointError(path, f"is not a usable BERT config: {e}") from None
    raise CheckpointError(folder, f"has no {CONFIG_NAME} or {GOOGLE_CONFIG_NAME}; conversion needs the config "
                                  "to check the weights. Put the model's config next to the weights.")


def _target_names(sd: StateDict, to: str, head: str) -> dict[str, str]:
    """Schema name -> the name the target format stores it under (shape of the mapping only)."""
    if to in ("safetensors", "bin"):
        return {k: k for k in sd}
    try:
        if to == "tf1":
            from conversion.names.tf1 import schema_to_tf1

            return {k: v[0] for k, v in schema_to_tf1(sd).items()}
        if to in ("tf", "tf-safetensors"):
            from conversion.names.tf import HEAD_LAYERS, schema_name_to_tf

            names = {k: schema_name_to_tf(k) for k in sd}
            bad = sorted(k for k, v in names.items() if v.split("/", 1)[0] not in HEAD_LAYERS[head])
            if bad:
                raise ValueError(f"{', '.join(bad)} have no place in a TF {head}")
            return names
        from conversion.names.flax import schema_name_to_flax

        return {k: schema_name_to_flax(k)[0] for k in sd}
    except (KeyError, ValueError) as e:
        raise CheckpointError(None, f"This checkpoint cannot be written as {to}: {str(e).strip(chr(39))}.") from None


def plan_conversion(sd: StateDict, config: BertConfig, head: str, to: str, skipped: dict[str, str] | None = None
                    ) -> tuple[StateDict, list[Row]]:
    """Check ``sd`` against ``config`` and ``head``; return the tensors to write and one row per tensor.

    Raises WeightMismatchError listing every tensor whose shape differs from what the config implies.
    """
    expected, optional = expected_shapes(config, head)
    sd = match_prefix(sd, expected)
    rows: list[Row] = []
    for name, reason in sorted((skipped or {}).items()):
        rows.append(Row("skipped", name, "", (), "", reason))
    out: StateDict = {}
    tied = TIED_DECODER_WEIGHT in optional
    for name, value in sd.items():
        if name == TIED_DECODER_WEIGHT and tied:
            words = "bert.embeddings.word_embeddings.weight"
            if words in sd and np.array_equal(sd[words], value):
                rows.append(Row("skipped", name, "", tuple(value.shape), str(value.dtype),
                                "tied to the word embeddings"))
                continue
        out[name] = value
    mismatched = [(k, tuple(v.shape), tuple(expected[k])) for k, v in out.items()
                  if k in expected and tuple(v.shape) != tuple(expected[k])]
    if mismatched:
        rows_text = "\n".join(f"  {n}: {a} in the checkpoint, {b} from the config" for n, a, b in mismatched)
        raise WeightMismatchError(f"Shapes differ between the checkpoint and its config ({head}):\n{rows_text}\n"
                                  "The checkpoint does not belong to this config, or the file is damaged.")
    targets = _target_names(out, to, head)
    for name, value in out.items():
        status = "mapped" if name in expected else "unexpected"
        note = "" if status == "mapped" else "not in a " + head + " (written anyway)"
        rows.append(Row(status, name, targets.get(name, ""), tuple(value.shape), str(value.dtype), note))
    for name in sorted(set(expected) - set(out) - optional):
        rows.append(Row("missing", "", name, tuple(expected[name]), "", "will be newly initialised on load"))
    return out, rows


# What detect_format calls a folder each target format writes.
_DETECTED_AS = {"tf-safetensors": "safetensors", "flax-safetensors": "safetensors"}
def _refuse_other_format(dst: str, to: str) -> None:
    try:
        existing = detect_format(dst)
    except CheckpointError:
        existing = None
    if existing and existing != _DETECTED_AS.get(to, to):
        raise CheckpointError(dst, f"already holds a {existing} checkpoint; converting to {to} there would leave "
                                   "two. Choose an empty or new folder.")


def _is_body(name: str) -> bool:
    """Embedding and encoder tensors, which every BERT checkpoint holds (a missing head may be intended)."""
    return ".embeddings." in f".{name}" or ".encoder.layer." in f".{name}"


def _config_for(config: BertConfig, head: str, to: str) -> dict:
    data = config.to_dict()
    data["architectures"] = [framework_class_name(head, _FRAMEWORK[to])]
    return data


def _write_config(config: BertConfig, head: str, to: str, folder: str) -> str:
    from bert_core.files import atomic_write_text

    data = _config_for(config, head, to)
    if to == "tf1":
        # Google's BertConfig.from_dict sets every key as an attribute, so the extra keys are harmless; they keep
        # the conversion back to config.json lossless.
        ordered = {k: data.pop(k) for k in GOOGLE_KEYS}
        ordered.update(data)
        atomic_write_text(os.path.join(folder, GOOGLE_CONFIG_NAME), json.dumps(ordered, indent=2) + "\n")
        return GOOGLE_CONFIG_NAME
    data.pop("transformers_version", None)
    atomic_write_text(os.path.join(folder, CONFIG_NAME), json.dumps(data, indent=2, sort_keys=True) + "\n")
    return CONFIG_NAME


def convert(src: str | os.PathLike, dst: str | os.PathLike, to: str, head: str | None = None,
            dry_run: bool = False, max_shard_size: int | None = None) -> Plan:
    """Convert the checkpoint at ``src`` (a folder, a weights file, or a TF1 prefix) into folder ``dst``.

    Args:
        src: source folder or file; its format is detected.
        dst: destination folder (created), not ``src``. A checkpoint of the same format there is replaced (old
            shards removed); one of another format is an error.
        to: target format: ``pt``/``safetensors`` (model.safetensors), ``bin`` (pytorch_model.bin), ``tf``
            (tf_model.h5), ``flax`` (flax_model.msgpack), ``tf1`` (bert_model.ckpt + bert_config.json),
            ``tf-safetensors`` / ``flax-safetensors`` (model.safetensors with transformers' TF / Flax names).
        head: PyTorch head name; inferred from the config's ``architectures`` or the tensor names when None.
        dry_run: check and plan only; nothing is written.
        max_shard_size: bytes per shard for safetensors and bin (one file when None).

    Returns the Plan (``plan.table()`` prints it). Raises CheckpointError / WeightMismatchError on bad input.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    to = ALIASES.get(to, to)
    if to not in FORMATS:
        raise ValueError(f"Unknown target format {to!r}; choose one of pt, {', '.join(FORMATS)}.")
    if max_shard_size is not None and to in ("tf", "flax"):
        raise ValueError(f"{FORMATS[to][1]} is always written as one file; max_shard_size applies to safetensors, "
                         "bin and tf1.")
    if os.path.isdir(src):
        check_folder(src)  # finish (or refuse) a write into the source that a kill interrupted
    src_format = detect_format(src)
    config, _ = read_config(src)
    skipped: dict[str, str] = {}
    sd = load_state_dict(src, fmt=src_format, mmap=True, skipped=skipped)
    head = head or infer_head(config, sd)
    config, notes = infer_config_from_shapes(config, sd, head)
    for note in notes:
        logger.info("%s: %s", src, note)
    plan_sd, rows = plan_conversion(sd, config, head, to, skipped)
    plan = Plan(src, dst, src_format, to, head, rows, notes=notes)
    if dry_run:
        return plan
    lost = [r.target for r in rows if r.status == "missing" and _is_body(r.target)]
    if lost:
        raise CheckpointError(src, f"lacks {len(lost)} tensor(s) its config requires: {', '.join(lost[:8])}"
                                   f"{' ...' if len(lost) > 8 else ''}. The checkpoint is incomplete (a missing "
                                   "shard?) or the config is not its own; --dry-run lists every tensor.")
    src_folder = os.path.abspath(_source_folder(src))
    if os.path.abspath(dst) == src_folder:
        raise CheckpointError(dst, "is the source folder; convert into a new folder.")
    if to in ("safetensors", "bin"):
        # Readers return kernels as transposed views of the source file; the formats that store them transposed
        # back write those bytes as they are, these two need C-ordered arrays (one blocked transpose each).
        from conversion.formats.common import contiguous

        plan_sd = contiguous(plan_sd)
    with atomic_folder(dst) as tmp:
        _refuse_other_format(dst, to)  # under the folder's lock: a concurrent convert cannot slip in between
        files = save_state_dict(plan_sd, tmp, to, head=head, max_shard_size=max_shard_size)
        files.append(_write_config(config, head, to, tmp))
        for name in TOKENIZER_FILES + OTHER_FILES:
            path = os.path.join(src_folder, name)
            if os.path.isfile(path):
                shutil.copyfile(path, os.path.join(tmp, name))
                files.append(name)
    plan.files = files  # the commit replaced the old weights, shards and index of every format with these
    logger.info("converted %s (%s) to %s (%s): %s", src, src_format, dst, to, ", ".join(files))
    return plan
