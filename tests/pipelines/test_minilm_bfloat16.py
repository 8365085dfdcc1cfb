"""A real model in bf16 through every framework's pipeline: all-MiniLM-L6-v2 sentence embeddings keep cosine >=
0.999 to float32 (issue 15.4: whichever units each framework's measured dispatch picks for bf16)."""

from __future__ import annotations

import numpy as np
import pytest

from bertzoo.pipelines import pipeline
from tests.conftest import require
from tests.torch.test_minilm import minilm_folder  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow

SENTENCES = ["A man is playing a guitar.", "Someone plays an acoustic guitar on stage.",
             "The stock market fell sharply today.", "Shares dropped heavily on Wall Street this afternoon.",
             "A cat sleeps on the warm windowsill while rain taps against the glass.", "Hi."]


@pytest.mark.parametrize("framework,module", [("pt", "bert_torch"), ("tf", "bert_tf"), ("flax", "bert_flax")])
def test_minilm_bfloat16_sentence_embeddings_keep_cosine(minilm_folder, framework, module):  # noqa: F811
    require(module)
    full = np.asarray(pipeline("sentence-embedding", model=minilm_folder, framework=framework)(SENTENCES),
                      np.float64)
    half = np.asarray(pipeline("sentence-embedding", model=minilm_folder, framework=framework,
                               dtype="bfloat16")(SENTENCES), np.float64)
    assert full.shape == half.shape == (len(SENTENCES), 384)
    cos = (full * half).sum(-1) / np.linalg.norm(full, axis=-1) / np.linalg.norm(half, axis=-1)
    print(f"{framework}: MiniLM bf16 vs fp32 sentence cosine min {cos.min():.6f}")
    assert cos.min() >= 0.999, cos
    assert np.abs(full - half).max() > 0  # bf16 really ran
