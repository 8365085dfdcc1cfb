"""Tokens per second of bertzoo's BertTokenizer / BertTokenizerFast, and transformers' two when installed.

Text: at least ``--megabytes`` MB of real English prose found on this machine (README / licence / docs files: .txt,
.md, .rst, LICENSE*, copyright under the virtualenv's site-packages and /usr/share/doc), chosen deterministically
(sorted paths, duplicates and non-prose files dropped), split into paragraphs and tokenized as one batch per run.

Each run uses a fresh tokenizer (our per-word cache starts empty); runs are interleaved across tokenizers and the
best of ``--repeats`` rounds is reported.
When transformers is importable, its tokenizers run on the same text in the same process, ratios are printed, and
the ids of our BertTokenizer must equal those of transformers' BertTokenizer (and ours fast = its fast).

    .venv/bin/python bench/tokenizers.py [--megabytes 2] [--repeats 3] [--vocab tests/fixtures/minilm-tokenizer]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import pathlib
import sysconfig
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
from bert_core import BertTokenizer, BertTokenizerFast

PATTERNS = ("*.txt", "*.md", "*.rst", "LICENSE*", "LICENCE*", "copyright")


def _is_prose(text: str) -> bool:
    """Mostly letters and spaces, real lines (not a word list), enough words."""
    if len(text) < 400:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text)
    lines = [line for line in text.splitlines() if line.strip()]
    return letters / len(text) > 0.85 and len(text) / max(len(lines), 1) > 30 and len(text.split()) > 80


def collect_text(megabytes: float) -> tuple[list[str], int, int]:
    """Paragraphs of at least ``megabytes`` MB of prose; returns (paragraphs, n_bytes, n_files)."""
    roots = [pathlib.Path(sysconfig.get_paths()["purelib"]), pathlib.Path("/usr/share/doc")]
    paths = sorted({p for root in roots if root.is_dir() for pattern in PATTERNS for p in root.rglob(pattern)
                    if p.is_file() and p.stat().st_size < 1_000_000})
    seen: set[bytes] = set()
    paragraphs: list[str] = []
    total, files = 0, 0
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        digest = hashlib.sha1(text.encode()).digest()
        if digest in seen or not _is_prose(text):
            continue
        seen.add(digest)
        files += 1
        paragraphs.extend(p.strip() for p in text.split("\n\n") if p.strip())
        total += len(text.encode())
        if total >= megabytes * 1e6:
            break
    if total < megabytes * 1e6:
        raise SystemExit(f"Found only {total / 1e6:.2f} MB of prose; lower --megabytes.")
    return paragraphs, total, files


def measure(candidates: dict, paragraphs: list[str], repeats: int) -> dict[str, tuple[float, list[list[int]]]]:
    """Best wall time of each candidate over ``repeats`` rounds, and its ids.

    Rounds are interleaved (every candidate once per round, a fresh tokenizer each time) so that a change in the
    machine's load affects all candidates alike.
    """
    best = {name: (float("inf"), []) for name in candidates}
    for _ in range(repeats):
        for name, make in candidates.items():
            tok = make()
            start = time.perf_counter()
            ids = tok(paragraphs)["input_ids"]
            seconds = time.perf_counter() - start
            best[name] = (min(best[name][0], seconds), ids)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab", default=str(ROOT / "tests" / "fixtures" / "minilm-tokenizer"))
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # "sequence longer than 512" notices

    paragraphs, n_bytes, n_files = collect_text(args.megabytes)
    print(f"text: {n_bytes / 1e6:.2f} MB from {n_files} files, {len(paragraphs)} paragraphs; best of "
          f"{args.repeats} runs, fresh tokenizer per run; vocab {args.vocab}")
    candidates = {"bertzoo BertTokenizer": lambda: BertTokenizer.from_pretrained(args.vocab),
                  "bertzoo BertTokenizerFast": lambda: BertTokenizerFast.from_pretrained(args.vocab)}
    try:
        import transformers
        transformers.logging.set_verbosity_error()
        candidates["transformers BertTokenizer"] = lambda: transformers.BertTokenizer.from_pretrained(args.vocab)
        candidates["transformers BertTokenizerFast"] = (
            lambda: transformers.BertTokenizerFast.from_pretrained(args.vocab))
        print(f"transformers {transformers.__version__} found: comparing in the same run")
    except ImportError:
        print("transformers not importable: measuring bertzoo only")

    results = {}
    for name, (seconds, ids) in measure(candidates, paragraphs, args.repeats).items():
        n_tokens = sum(map(len, ids))
        results[name] = (seconds, n_tokens, ids)
        print(f"{name:32s} {n_tokens:9d} tokens in {seconds:7.3f} s = {n_tokens / seconds:12,.0f} tokens/s")

    def rate(name: str) -> float:
        seconds, n_tokens, _ = results[name]
        return n_tokens / seconds

    if "transformers BertTokenizer" in results:
        print("ratios (tokens/s, higher is faster):")
        for ours, theirs in (("BertTokenizer", "BertTokenizer"), ("BertTokenizerFast", "BertTokenizerFast"),
                             ("BertTokenizer", "BertTokenizerFast")):
            print(f"  bertzoo {ours:18s} / transformers {theirs:18s} = "
                  f"{rate('bertzoo ' + ours) / rate('transformers ' + theirs):6.2f}x")
        slow_same = results["bertzoo BertTokenizer"][2] == results["transformers BertTokenizer"][2]
        fast_same = results["bertzoo BertTokenizerFast"][2] == results["transformers BertTokenizerFast"][2]
        print(f"identical ids: slow vs transformers slow: {slow_same}; fast vs transformers fast: {fast_same}")
        assert slow_same, "bertzoo BertTokenizer ids differ from transformers' BertTokenizer"
        assert fast_same, "bertzoo BertTokenizerFast ids differ from transformers' BertTokenizerFast"


if __name__ == "__main__":
    main()
