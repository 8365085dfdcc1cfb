"""The one set of builders the tests share: tiny configs, inputs and labels for every head (derived from the head
table), training data for every task, and the comparisons of outputs and gradients.

Labels come from ``bert_core.heads.HEAD_TABLE``: ``label_names`` says which labels a head takes, the row's ``mlm``,
``choices_axis`` and ``loss`` say their shape, ``classifier_outputs`` (or ``config.num_labels``) their range. Some
labels are set to ``IGNORE_INDEX`` (or, for spans, beyond the sequence) so every loss's ignore path is exercised.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bert_core import BertConfig
from bert_core.heads import IGNORE_INDEX, head, infer_problem_type
from bert_core.training import TASK_HEADS
from tests.conftest import random_inputs, tiny_config_dict

CHOICES = 3
"""Choices per example of the multiple-choice inputs."""


def tiny_config(**overrides: Any) -> BertConfig:
    """``BertConfig`` of ``tests.conftest.tiny_config_dict`` (vocab 99, hidden 32, 2 layers, dropout off)."""
    return BertConfig(**tiny_config_dict(**overrides))


def head_config(name: str, **overrides: Any) -> BertConfig:
    """The tiny config a head is tested with: a decoder for the causal LM, 2 labels (start, end) for spans."""
    row = head(name)
    values: dict[str, Any] = {"is_decoder": row.causal} if row.causal else {}
    if row.loss == "span":
        values["num_labels"] = 2
    return tiny_config(**{**values, **overrides})


def head_inputs(name: str, batch: int = 3, seq: int = 11, seed: int = 0, vocab: int = 99) -> dict[str, np.ndarray]:
    """Random ids, a padded mask and two segments, with a choices axis where the head's row has one."""
    return random_inputs(batch=batch, seq=seq, seed=seed, vocab=vocab,
                         choices=CHOICES if head(name).choices_axis else None)


def label_classes(name: str, config: BertConfig) -> int:
    """How many classes the head's classifier predicts: ``classifier_outputs``, or ``config.num_labels``."""
    outputs = head(name).classifier_outputs
    return config.num_labels if outputs == "num_labels" else int(outputs)


def head_labels(name: str, inputs: dict[str, np.ndarray], config: BertConfig, seed: int = 1,
                problem_type: str | None = None) -> dict[str, np.ndarray]:
    """Labels for every name in the head's ``label_names`` (empty for a head without a loss).

    ``problem_type`` (sequence classification): ``"regression"`` (float ``[batch]``, needs ``num_labels == 1``),
    ``"multi_label_classification"`` (0/1 floats ``[batch, num_labels]``) or ``"single_label_classification"``
    (class ids, one ignored); default: transformers' inference from the config.
    """
    row, rng = head(name), np.random.default_rng(seed)
    ids = inputs["input_ids"]
    batch, seq = ids.shape[0], ids.shape[-1]
    out: dict[str, np.ndarray] = {}
    for label in row.label_names:
        if label == "next_sentence_label":
            out[label] = rng.integers(0, 2, batch)
        elif label in ("start_positions", "end_positions"):  # one position beyond the sequence: clamped, ignored
            positions = rng.integers(0, seq, batch)
            positions[-1] = seq + 5 if label == "start_positions" else positions[-1]
            out[label] = positions
        elif row.mlm:  # vocabulary ids at every token, every third ignored
            tokens = rng.integers(0, config.vocab_size, (batch, seq))
            tokens[:, ::3] = IGNORE_INDEX
            out[label] = tokens
        elif row.choices_axis:
            out[label] = rng.integers(0, ids.shape[1], batch)
        elif row.loss == "token_classification":
            tokens = rng.integers(0, label_classes(name, config), (batch, seq))
            tokens[:, -2:] = IGNORE_INDEX
            out[label] = tokens
        elif row.loss == "sequence_classification":
            out[label] = _sequence_labels(rng, batch, config, problem_type)
        else:  # a class per sequence (next sentence prediction)
            out[label] = rng.integers(0, label_classes(name, config), batch)
    return out


def _sequence_labels(rng, batch: int, config: BertConfig, problem_type: str | None) -> np.ndarray:
    problem = problem_type or infer_problem_type(config.problem_type, config.num_labels, True)
    if problem == "regression":
        return rng.standard_normal(batch).astype(np.float32)
    if problem == "multi_label_classification":
        return (rng.random((batch, config.num_labels)) > 0.5).astype(np.float32)
    labels = rng.integers(0, config.num_labels, batch)
    labels[-1] = IGNORE_INDEX
    return labels


def head_batch(name: str, config: BertConfig, seed: int = 0, **kwargs: Any) -> dict[str, np.ndarray]:
    """``head_inputs`` plus ``head_labels`` (``kwargs``: ``batch``, ``seq``, ``problem_type``)."""
    problem_type = kwargs.pop("problem_type", None)
    inputs = head_inputs(name, seed=seed, vocab=config.vocab_size, **kwargs)
    return {**inputs, **head_labels(name, inputs, config, seed=seed + 1, problem_type=problem_type)}


def task_arrays(task: str, n: int = 8, seq: int = 12, seed: int = 0, vocab: int = 99,
                labelled: int | None = 2, num_labels: int = 3) -> dict[str, np.ndarray]:
    """Training rows for a ``bert_core.training`` task: inputs with padding (every third row) and two segments, the
    task head's
    labels (``num_labels`` classes). Pre-training rows are masked like BERT's data: ``labelled`` positions a row (None: 1 to 4, varying)
    get their id as the label and ``[MASK]`` (3) as the input, the rest ``IGNORE_INDEX``."""
    name = TASK_HEADS[task]
    config = tiny_config(vocab_size=vocab, num_labels=2 if task == "question-answering" else num_labels)
    rng = np.random.default_rng(seed)
    inputs = random_inputs(batch=n, seq=seq, vocab=vocab, seed=seed)
    inputs["input_ids"] = np.maximum(inputs["input_ids"], 5)  # keep the special ids 0-4 out of the data
    inputs["attention_mask"][::3, seq - 3:] = 0  # every third row padded
    labels = head_labels(name, inputs, config, seed=seed + 1)
    if task == "pretraining":
        ids, mlm = inputs["input_ids"], np.full((n, seq), IGNORE_INDEX, np.int64)
        for row in range(n):
            count = labelled if labelled is not None else 1 + row % 4
            pos = rng.choice(np.arange(1, seq - 3), count, replace=False)
            mlm[row, pos], ids[row, pos] = ids[row, pos], 3
        labels["labels"] = mlm
    elif task == "question-answering":  # every span inside the sequence
        labels = {k: rng.integers(0, seq, n) for k in labels}
    elif task == "sequence-classification":
        labels["labels"] = rng.integers(0, num_labels, n)
    return {**inputs, **labels}


# -- comparisons -----------------------------------------------------------------------------------------------
def max_diff(a, b) -> float:
    """Largest absolute difference, in float64 (0 for empty arrays)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def assert_outputs_close(got: dict[str, Any], want: dict[str, Any], atol: float, where: str = "") -> int:
    """Every field of ``want`` (arrays or tuples of arrays) is in ``got`` and within ``atol``; returns how many
    fields were compared."""
    missing = sorted(set(want) - set(got))
    assert not missing, f"{where}: missing output fields {missing} (got {sorted(got)})"
    for field, value in want.items():
        if isinstance(value, tuple):
            assert isinstance(got[field], tuple) and len(got[field]) == len(value), f"{where}: {field} length"
            for i, (g, w) in enumerate(zip(got[field], value)):
                assert max_diff(g, w) <= atol, f"{where}: {field}[{i}] differs by {max_diff(g, w):.3g} > {atol}"
        else:
            assert max_diff(got[field], value) <= atol, \
                f"{where}: {field} differs by {max_diff(got[field], value):.3g} > {atol}"
    return len(want)


def assert_gradients_close(got: dict[str, np.ndarray], want: dict[str, np.ndarray], rtol: float = 1e-4,
                           where: str = "") -> None:
    """The same parameter names, and each gradient within ``rtol`` of the tensor's largest reference gradient,
    floored at 3e-2 of the largest gradient anywhere: some gradients are sums that cancel to almost nothing (the
    last LayerNorm bias before a softmax-invariant head; a multiple-choice classifier bias, a sum of softmax terms
    ~0.3 ending near 7e-5), where float32 leaves ~5e-8 of absolute rounding noise that depends on thread count and
    summation order (1e-3 of the largest gradient made those tests pass or fail with the test order)."""
    assert set(got) == set(want), (f"{where}: parameter names differ: only here {sorted(set(got) - set(want))}, "
                                   f"only in the reference {sorted(set(want) - set(got))}")
    floor = 3e-2 * max(float(np.abs(g).max()) for g in want.values())
    for name, ref in want.items():
        scale = max(float(np.abs(ref).max()), floor)
        err = max_diff(got[name], ref) / scale
        assert err <= rtol, f"{where}: gradient of {name} differs by {err:.3g} of its scale {scale:.3g} > {rtol}"
