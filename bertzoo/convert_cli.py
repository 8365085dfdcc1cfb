"""``bertzoo convert``, ``bertzoo verify`` and ``bertzoo inspect``: argparse builders wired in bertzoo.cli.

Each builder adds one subcommand to an ``argparse`` subparsers object and sets ``func`` to a handler that returns
the exit status. Errors about the input (``CheckpointError``, ``WeightMismatchError``) print one clear line and
exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from bert_core.heads import HEADS

TARGETS = ("pt", "safetensors", "bin", "tf", "flax", "tf1", "tf-safetensors", "flax-safetensors")
_EPILOG_CONVERT = """\
targets:
  pt, safetensors    model.safetensors (PyTorch names, metadata format "pt")
  bin                pytorch_model.bin (torch.save of a dict of tensors)
  tf                 tf_model.h5 (transformers' TF layout, what bert_tf and TFBert* read)
  flax               flax_model.msgpack (what bert_flax and FlaxBert* read)
  tf1                bert_model.ckpt.index/.data-00000-of-00001 + bert_config.json (Google's original BERT)
  tf-safetensors     model.safetensors with TF names (metadata format "tf")
  flax-safetensors   model.safetensors with Flax names (metadata format "flax")

config.json (or bert_config.json for tf1) and the tokenizer files (vocab.txt, tokenizer.json,
tokenizer_config.json, special_tokens_map.json) are copied along. Nothing is written on error.

examples:
  bertzoo convert bert-base-uncased/ bert-tf/ --to tf
  bertzoo convert uncased_L-12_H-768_A-12/bert_model.ckpt bert-pt/ --to pt --head BertForPreTraining
  bertzoo convert my-model/ out/ --to tf1 --dry-run
"""


def _fail(e: Exception) -> int:
    print(f"error: {e}", file=sys.stderr)
    return 2


def _size(text: str) -> int:
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    t = text.strip().upper()
    num = t.rstrip("KMGIB")
    try:
        return int(float(num) * units[t[len(num):]])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write bytes or e.g. 500MB, 2GB, 1GiB") from None


def add_convert_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "convert", help="convert a checkpoint between formats (safetensors, bin, TF h5, Flax msgpack, TF1)",
        description="Convert a checkpoint folder (or a TF1 checkpoint prefix) to another format, losslessly: "
                    "tensors keep their values and dtypes.",
        epilog=_EPILOG_CONVERT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help="checkpoint folder, weights file, or TF1 prefix (folder/bert_model.ckpt)")
    p.add_argument("dst", metavar="DST",
                   help="destination folder (created; a checkpoint of the same format there is replaced)")
    p.add_argument("--to", required=True, choices=TARGETS, metavar="FORMAT",
                   help=f"target format: {', '.join(TARGETS)} (see below)")
    p.add_argument("--head", choices=HEADS, metavar="HEAD",
                   help="model head (e.g. BertForMaskedLM); default: from config.json's architectures, else from "
                        "the tensor names")
    p.add_argument("--dry-run", action="store_true",
                   help="check and print the table of mapped, skipped, missing and unexpected tensors; write nothing")
    p.add_argument("--max-shard-size", type=_size, default=None, metavar="SIZE",
                   help="split safetensors / bin / tf1 output into shards of at most SIZE (e.g. 2GB)")
    p.add_argument("--verbose", "-v", action="store_true", help="print the tensor table after converting too")
    p.set_defaults(func=run_convert)
    return p


def run_convert(args: argparse.Namespace) -> int:
    from conversion.converter import convert
    from conversion.errors import CheckpointError, WeightMismatchError

    try:
        plan = convert(args.src, args.dst, args.to, head=args.head, dry_run=args.dry_run,
                       max_shard_size=args.max_shard_size)
    except (CheckpointError, WeightMismatchError, ValueError, OSError) as e:
        return _fail(e)
    if args.dry_run or args.verbose:
        print(plan.table())
    if not args.dry_run:
        print(f"wrote {args.dst}: {', '.join(plan.files)} ({plan.count('mapped')} tensors, head {plan.head})")
    return 0


def add_verify_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "verify", help="run a checkpoint in PyTorch, TF and Flax and compare the outputs",
        description="Load FOLDER in every installed framework (missing ones are skipped), run the same inputs and "
                    "print the max abs difference of each output against the first framework. Exits 1 when a "
                    "difference exceeds --atol.")
    p.add_argument("folder", metavar="FOLDER", help="checkpoint folder in any format bertzoo reads")
    p.add_argument("--frameworks", default="pt,tf,flax", metavar="LIST",
                   help="comma-separated frameworks to compare, first is the reference (default: pt,tf,flax)")
    p.add_argument("--atol", type=float, default=1e-4, help="largest allowed max abs difference (default: 1e-4)")
    p.add_argument("--head", choices=HEADS, metavar="HEAD", help="model head; default: inferred")
    p.set_defaults(func=run_verify)
    return p


def run_verify(args: argparse.Namespace) -> int:
    from conversion.errors import CheckpointError, WeightMismatchError
    from bertzoo.verify import verify

    frameworks = tuple(f.strip() for f in args.frameworks.split(",") if f.strip())
    try:
        result = verify(args.folder, frameworks, atol=args.atol, head=args.head)
    except (CheckpointError, WeightMismatchError, ValueError, OSError) as e:
        return _fail(e)
    print(result.table())
    if result.reference is None:
        print("error: no framework could load the checkpoint", file=sys.stderr)
        return 2
    return 0 if result.ok else 1


def add_inspect_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "inspect", help="show a checkpoint's format, head, config, parameter count and dtypes",
        description="Describe a checkpoint without loading a framework (TF1 checkpoints need TensorFlow, "
                    "pytorch_model.bin needs PyTorch).")
    p.add_argument("folder", metavar="FOLDER", help="checkpoint folder, weights file or TF1 prefix")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_inspect)
    return p


def run_inspect(args: argparse.Namespace) -> int:
    from conversion.errors import CheckpointError, WeightMismatchError
    from bertzoo.inspection import describe, format_description

    try:
        info = describe(args.folder)
    except (CheckpointError, WeightMismatchError, ValueError, OSError) as e:
        return _fail(e)
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0
