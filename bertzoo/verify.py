"""Load one checkpoint in every installed framework, run the same inputs, and compare the outputs.

Frameworks are imported lazily, each only when asked for; one that is not installed is skipped with the reason.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from bert_core.heads import HEADS_BY_NAME
from bertzoo.adapters import FRAMEWORKS, canonical, get_adapter, missing_packages


@dataclasses.dataclass
class VerifyResult:
    """Max abs difference of every output of every framework against the first framework that loaded."""

    head: str
    reference: str | None
    diffs: dict[str, dict[str, float]]  # framework -> output -> max abs diff vs the reference
    skipped: dict[str, str]  # framework -> why
    atol: float

    @property
    def ok(self) -> bool:
        return self.reference is not None and all(d <= self.atol for out in self.diffs.values()
                                                  for d in out.values())

    def table(self) -> str:
        lines = [f"head {self.head}; reference framework: {self.reference or 'none loaded'}; atol {self.atol:g}",
                 f"{'framework':<10} {'output':<28} {'max abs diff':>14}  result"]
        for fw, outs in self.diffs.items():
            for name, d in outs.items():
                verdict = "ok" if d <= self.atol else "FAIL"
                lines.append(f"{fw:<10} {name:<28} {d:>14.3e}  {verdict}")
        for fw, why in self.skipped.items():
            lines.append(f"{fw:<10} skipped: {why}")
        return "\n".join(lines)


def sample_inputs(config, head: str, batch: int = 2, seq: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic ids within the vocabulary, two segments, the last row padded."""
    seq = min(seq, config.max_position_embeddings)
    rng = np.random.default_rng(seed)
    shape = (batch, 2, seq) if HEADS_BY_NAME[head].choices_axis else (batch, seq)
    input_ids = rng.integers(1, config.vocab_size, size=shape).astype(np.int64)
    attention_mask = np.ones(shape, np.int64)
    attention_mask[-1, ..., max(1, seq - 2):] = 0
    token_type_ids = np.zeros(shape, np.int64)
    if config.type_vocab_size > 1:
        token_type_ids[..., seq // 2:] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def run_framework(framework: str, folder: str, head: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Load ``head`` from ``folder`` through the framework's adapter and run ``inputs`` on the CPU."""
    adapter = get_adapter(framework)
    outputs = adapter.run(adapter.load(folder, head, device=-1), inputs)
    return {k: np.asarray(v, np.float64) for k, v in outputs.items() if not isinstance(v, tuple)}


def verify(folder: str, frameworks: tuple[str, ...] = FRAMEWORKS, atol: float = 1e-4,
           head: str | None = None) -> VerifyResult:
    """Run ``folder``'s model in each framework on the same inputs; diffs are against the first that loads."""
    from conversion.api import load_state_dict
    from conversion.converter import read_config
    from conversion.heads import infer_head

    if not os.path.exists(folder) and not os.path.exists(f"{folder}.index"):
        raise FileNotFoundError(f"{folder}: no such checkpoint folder or file.")
    config, _ = read_config(folder)
    head = head or infer_head(config, load_state_dict(folder, mmap=True))
    inputs = sample_inputs(config, head)
    reference: tuple[str, dict[str, np.ndarray]] | None = None
    diffs: dict[str, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    for fw in frameworks:
        fw = canonical(fw)
        absent = missing_packages(fw)
        if absent:
            skipped[fw] = f"not installed ({', '.join(absent)})"
            continue
        try:
            outputs = run_framework(fw, folder, head, inputs)
        except (ImportError, AttributeError, KeyError) as e:
            skipped[fw] = f"bertzoo's {fw} package cannot build {head} ({type(e).__name__}: {e})"
            continue
        if reference is None:
            reference = (fw, outputs)
            diffs[fw] = {k: 0.0 for k in outputs}
            continue
        ref = reference[1]
        diffs[fw] = {k: float(np.max(np.abs(outputs[k] - ref[k]))) if k in outputs else float("inf")
                     for k in ref}
    return VerifyResult(head, reference[0] if reference else None, diffs, skipped, atol)
