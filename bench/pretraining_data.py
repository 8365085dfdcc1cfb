"""Throughput of the pre-training data pipeline (``bert_core.data``) against what training needs.

Builds about 2 MB of real English text from documentation found on the machine (package READMEs / METADATA,
licenses and docs under the virtualenv's site-packages, then /usr/share/doc; sorted paths, deduplicated, so the
choice is deterministic), reformatted into one-sentence-per-line documents (one per source file), and measures in
one run:

1. reading + tokenization alone (tokens/s),
2. pairs + truncation + masking from already tokenized documents (examples/s; the pipeline's own cost),
3. the whole pipeline from files (examples/s, tokens/s),
4. the baseline: transformers' ``TextDatasetForNextSentencePrediction`` + ``DataCollatorForLanguageModeling`` on
   the same text, with the same tokenizer when it is a transformers one, else transformers' (pure Python)
   ``BertTokenizer`` (skipped with ``--no-baseline`` or without transformers / torch). Note that the baseline
   neither truncates pairs (its examples may exceed max_seq_length) nor pads them in the dataset,

and compares 3 with the examples/s a training step consumes. Usage::

    .venv/bin/python bench/pretraining_data.py [--megabytes 2] [--tokenizer auto|bertzoo|hf-slow|hf-fast]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import pathlib
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

os.environ.setdefault("USE_TF", "0")  # transformers (the baseline) would otherwise import TensorFlow and JAX
os.environ.setdefault("USE_FLAX", "0")
os.environ.setdefault("USE_JAX", "0")
ROOT = pathlib.Path(__file__).resolve().parent.parent

from bert_core.data import PretrainingExamples, read_documents, tokenize_documents  # noqa: E402
from bert_core.data.instances import iter_instances  # noqa: E402

T = TypeVar("T")
TOKENIZER_FOLDER = ROOT / "tests" / "fixtures" / "minilm-tokenizer"
# transformers' PyTorch BERT-base training step: about 5.9 s for batch 8 x 128 on this 2-core machine.
CPU_STEP_EXAMPLES_PER_S = 8 / 5.9
# An assumed single-GPU BERT-base (seq 128, mixed precision) training rate: "hundreds per second".
GPU_STEP_EXAMPLES_PER_S = 500.0
TEXT_NAMES = re.compile(r"^(METADATA|README.*|LICEN[SC]E.*|COPYING.*|NOTICE.*|AUTHORS.*|.*\.(md|rst|txt))$", re.I)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def candidate_files() -> Iterator[pathlib.Path]:
    """Text files in a fixed order: the virtualenv's site-packages, then /usr/share/doc."""
    site = ROOT / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for top in (site, pathlib.Path("/usr/share/doc")):
        if not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                base = name[:-3] if name.endswith(".gz") else name
                if TEXT_NAMES.match(base) and not base.endswith(("requirements.txt", "entry_points.txt",
                                                                  "top_level.txt", "RECORD")):
                    yield pathlib.Path(folder) / name


def prose_sentences(text: str) -> list[str]:
    """The prose of a README / licence as sentences: markup, code and tables dropped, paragraphs split."""
    paragraphs, current = [], []
    in_code = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            continue
        if (in_code or line.startswith(("    ", "\t", ">>>", "..", "|", "+-", "$ ")) or ":" in stripped[:20]
                and " " not in stripped.split(":")[0] and len(stripped) < 80 and not current):
            continue
        if not stripped or set(stripped) <= set("=-~*#^_+` "):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(stripped.lstrip("#*- ").strip())
    if current:
        paragraphs.append(" ".join(current))
    sentences = []
    for paragraph in paragraphs:
        for sentence in SENTENCE_END.split(re.sub(r"\s+", " ", paragraph)):
            words = sentence.split()
            letters = sum(c.isalpha() for c in sentence)
            if len(words) >= 4 and letters >= 0.6 * len(sentence) and len(sentence) <= 500:
                sentences.append(sentence)
    return sentences


def build_corpus(folder: pathlib.Path, megabytes: float, docs_per_file: int = 50) -> tuple[list[pathlib.Path], int]:
    """Write about ``megabytes`` of one-sentence-per-line documents into files of ``folder``; returns (paths, bytes)."""
    seen, documents, size = set(), [], 0
    for path in candidate_files():
        try:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError, gzip.BadGzipFile, EOFError):
            continue
        digest = hashlib.sha1(text.encode()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        sentences = prose_sentences(text)
        if len(sentences) < 2:
            continue
        kept, budget = [], megabytes * 1e6 - size
        for sentence in sentences:  # the last document stops at the budget, on a sentence boundary
            budget -= len(sentence.encode()) + 1
            if budget < 0:
                break
            kept.append(sentence)
        if len(kept) >= 2:
            document = "\n".join(kept)
            documents.append(document)
            size += len(document.encode()) + 2
        if budget < 0:
            break
    paths = []
    for start in range(0, len(documents), docs_per_file):
        path = folder / f"corpus-{start // docs_per_file:04d}.txt"
        path.write_text("\n\n".join(documents[start:start + docs_per_file]) + "\n", encoding="utf-8")
        paths.append(path)
    return paths, size


def load_tokenizer(kind: str) -> tuple[Any, str]:
    """The tokenizer to benchmark with, on the MiniLM (uncased BERT) vocabulary, and its name."""
    if kind in ("auto", "bertzoo"):
        try:
            from bert_core import BertTokenizer
            return BertTokenizer.from_pretrained(str(TOKENIZER_FOLDER)), "bert_core.BertTokenizer"
        except ImportError:
            if kind == "bertzoo":
                raise
    from transformers import BertTokenizer, BertTokenizerFast
    cls = BertTokenizerFast if kind == "hf-fast" else BertTokenizer
    return cls.from_pretrained(str(TOKENIZER_FOLDER)), f"transformers.{cls.__name__}"


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and the seconds it took."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_baseline(paths: list[pathlib.Path], tokenizer: Any, folder: pathlib.Path,
                   max_seq_length: int) -> tuple[int, int, float]:
    """transformers' NSP dataset + MLM collator over the corpus in one file: (examples, real tokens, seconds)."""
    import warnings

    from transformers import DataCollatorForLanguageModeling, TextDatasetForNextSentencePrediction
    joined = folder / "baseline.txt"
    joined.write_text("\n\n".join(p.read_text(encoding="utf-8").strip() for p in paths) + "\n", encoding="utf-8")
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="np")

    def run() -> tuple[int, int]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = TextDatasetForNextSentencePrediction(tokenizer, str(joined), max_seq_length, overwrite_cache=True)
        tokens = 0
        for start in range(0, len(data), 8):
            features = [{k: v.numpy() for k, v in data[i].items()} for i in range(start, min(start + 8, len(data)))]
            batch = collator(features)
            tokens += int(batch["attention_mask"].sum())
        return len(data), tokens

    (count, tokens), seconds = timed(run)
    return count, tokens, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=2.0)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--tokenizer", default="auto", choices=["auto", "bertzoo", "hf-slow", "hf-fast"])
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    length = args.max_seq_length
    tokenizer, tokenizer_name = load_tokenizer(args.tokenizer)
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        (paths, size), build_s = timed(lambda: build_corpus(folder, args.megabytes))
        print(f"corpus: {size / 1e6:.2f} MB of text, {len(paths)} files, built in {build_s:.1f} s; "
              f"tokenizer: {tokenizer_name}; max_seq_length {length}")

        docs, tok_s = timed(lambda: list(tokenize_documents(read_documents(paths), tokenizer)))
        n_tokens = sum(len(d.ids) for d in docs)
        n_sentences = sum(len(d) for d in docs)
        print(f"1. read + tokenize : {len(docs)} documents, {n_sentences} sentences, {n_tokens} tokens in "
              f"{tok_s:.2f} s = {n_tokens / tok_s:,.0f} tokens/s")

        examples = PretrainingExamples(paths, tokenizer, max_seq_length=length, seed=0)

        def pairs_and_masks() -> list[dict[str, np.ndarray]]:
            instances = iter_instances(docs, np.random.default_rng(0), max_num_tokens=length - 3,
                                       window=examples.document_window)
            rng = np.random.default_rng(0)
            return [examples.make_example(inst, rng) for inst in instances]

        made, pm_s = timed(pairs_and_masks)
        print(f"2. pairs + masking : {len(made)} examples in {pm_s:.2f} s = {len(made) / pm_s:,.0f} examples/s "
              f"(from tokenized documents)")

        def end_to_end() -> tuple[int, int]:
            count = tokens = 0
            for ex in examples:
                count += 1
                tokens += int(ex["attention_mask"].sum())
            return count, tokens

        (count, tokens), e2e_s = timed(end_to_end)
        rate = count / e2e_s
        print(f"3. whole pipeline  : {count} examples ({tokens} real tokens) in {e2e_s:.2f} s = {rate:,.1f} "
              f"examples/s, {tokens / e2e_s:,.0f} example tokens/s, {n_tokens / e2e_s:,.0f} corpus tokens/s")
        print(f"   needed by training: CPU (5.9 s per 8 x {length}) {CPU_STEP_EXAMPLES_PER_S:.2f} examples/s -> "
              f"{rate / CPU_STEP_EXAMPLES_PER_S:,.0f}x headroom; GPU (assumed {GPU_STEP_EXAMPLES_PER_S:.0f}/s) -> "
              f"{rate / GPU_STEP_EXAMPLES_PER_S:.2f}x on one core")

        if not args.no_baseline:
            try:
                b_tokenizer, b_name = tokenizer, tokenizer_name
                if not tokenizer_name.startswith("transformers."):  # its collator needs a transformers tokenizer
                    b_tokenizer, b_name = load_tokenizer("hf-slow")
                b_count, b_tokens, b_s = bench_baseline(paths, b_tokenizer, folder, length)
            except ImportError as e:
                print(f"4. baseline skipped ({e})")
            else:
                print(f"4. transformers NSP dataset + MLM collator ({b_name}): {b_count} examples in "
                      f"{b_s:.2f} s = {b_count / b_s:,.1f} examples/s; bertzoo / transformers = "
                      f"{rate / (b_count / b_s):.2f}x")


if __name__ == "__main__":
    main()
