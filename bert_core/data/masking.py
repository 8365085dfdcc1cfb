"""Masked-language-model masking, as Google's ``create_masked_lm_predictions`` does it.

Of an example's ``n`` tokens (special tokens included in the count, as Google counts them), ``min(max_predictions,
max(1, round(n * masked_lm_prob)))`` positions are chosen at random among the non-special ones. With whole-word
masking the candidates are words (a token plus the ``##`` pieces that follow it): words are taken in random
order, skipping any that would overshoot the count, so all pieces of a word are masked together. Each chosen
position becomes [MASK] with probability 0.8, a uniformly random vocabulary id with probability 0.1 (as Google and
transformers draw it, any id) and stays unchanged with probability 0.1. Labels follow transformers'
``DataCollatorForLanguageModeling``: the original id at chosen positions, -100 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bert_core.heads import IGNORE_INDEX



@dataclass(frozen=True)
class MaskingConfig:
    """The masking parameters and the ids they need.

    Attributes:
        mask_token_id: id of [MASK].
        vocab_size: random replacements are drawn from ``[0, vocab_size)``.
        masked_lm_prob: fraction of tokens to predict (0.15).
        max_predictions_per_seq: cap on the number of predicted positions per example.
        subword_table: for whole-word masking, a boolean table over ids, True for ``##`` pieces; ``None``: off.
    """

    mask_token_id: int
    vocab_size: int
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    subword_table: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.masked_lm_prob <= 1.0:
            raise ValueError(f"masked_lm_prob must lie in [0, 1], got {self.masked_lm_prob}")
        if self.max_predictions_per_seq < 0:
            raise ValueError(f"max_predictions_per_seq must be >= 0, got {self.max_predictions_per_seq}")
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {self.vocab_size}")

    def __repr__(self) -> str:
        return (f"MaskingConfig(masked_lm_prob={self.masked_lm_prob}, max_predictions_per_seq="
                f"{self.max_predictions_per_seq}, whole_word_mask={self.subword_table is not None}, "
                f"mask_token_id={self.mask_token_id}, vocab_size={self.vocab_size})")


def choose_positions(input_ids: np.ndarray, special_mask: np.ndarray, num_tokens: int, config: MaskingConfig,
                     rng: np.random.Generator) -> np.ndarray:
    """The sorted positions to predict.

    Args:
        input_ids: [seq] ids of one example.
        special_mask: [seq] bool, True at special tokens and padding (never chosen).
        num_tokens: the number of real tokens (special tokens included, padding not), which sets the count.
        config: the masking parameters.
        rng: the random generator.
    """
    candidates = np.flatnonzero(~special_mask)
    count = min(config.max_predictions_per_seq, max(1, int(round(num_tokens * config.masked_lm_prob))))
    if config.masked_lm_prob == 0.0 or len(candidates) == 0 or count == 0:
        return np.zeros(0, dtype=np.int64)
    if config.subword_table is None:
        return np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))
    # Whole words: a word starts at a non-"##" token or after a non-candidate (special) position.
    starts = ~config.subword_table[input_ids[candidates]]
    starts[0] = True
    starts[1:] |= np.diff(candidates) != 1
    word_starts = np.flatnonzero(starts)
    word_sizes = np.diff(np.append(word_starts, len(candidates)))
    chosen: list[int] = []
    total = 0
    for word in rng.permutation(len(word_starts)):
        if total >= count:
            break
        size = int(word_sizes[word])
        if total + size > count:
            continue
        chosen.append(int(word))
        total += size
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    words = np.sort(np.asarray(chosen))
    picks = np.concatenate([np.arange(word_starts[w], word_starts[w] + word_sizes[w]) for w in words])
    return candidates[picks]


def mask_tokens(input_ids: np.ndarray, special_mask: np.ndarray, num_tokens: int, config: MaskingConfig,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mask one example: returns ``(masked_input_ids, labels)``, both int32 of ``input_ids``' shape.

    See the module docstring for the rule; ``special_mask`` and ``num_tokens`` are as in ``choose_positions``.
    """
    positions = choose_positions(input_ids, special_mask, num_tokens, config, rng)
    masked = np.array(input_ids, dtype=np.int32, copy=True)
    labels = np.full(masked.shape, IGNORE_INDEX, dtype=np.int32)
    if len(positions) == 0:
        return masked, labels
    labels[positions] = masked[positions]
    draw = rng.random(len(positions))
    masked[positions[draw < 0.8]] = config.mask_token_id
    randomized = positions[(draw >= 0.8) & (draw < 0.9)]
    if len(randomized):
        masked[randomized] = rng.integers(0, config.vocab_size, size=len(randomized), dtype=np.int32)
    return masked, labels
