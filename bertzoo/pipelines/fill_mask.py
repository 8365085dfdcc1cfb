"""fill-mask: the most likely tokens for each [MASK] of the input."""

from __future__ import annotations

from typing import Any

import numpy as np

from bertzoo.pipelines.base import Pipeline, Row
from bertzoo.pipelines.scores import softmax


class FillMaskPipeline(Pipeline):
    """``pipe("Paris is the [MASK] of France.", top_k=5, targets=None)``.

    Returns a list of ``{"score", "token", "token_str", "sequence"}`` for an input with one [MASK], and a list
    of such lists (one per [MASK], in order) for an input with several.
    """

    task = "fill-mask"
    head = "BertForMaskedLM"

    def preprocess(self, text: str, **kwargs: Any) -> list[Row]:
        ids, _, _ = self.encode_words(text)
        if len(ids) > self.max_length - 2:
            raise ValueError(f"The input has {len(ids)} tokens; this model takes at most {self.max_length - 2} "
                             "besides [CLS] and [SEP]. Shorten it.")
        row = self.single_row(ids)
        if self.tokenizer.mask_token_id not in row.input_ids:
            raise ValueError(f"No {self.tokenizer.mask_token} token in the input {text!r}: fill-mask needs at least "
                             "one.")
        return [row]

    def _target_ids(self, targets: str | list[str]) -> np.ndarray:
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in [targets] if isinstance(targets, str) else targets:
            if target in vocab:
                ids.append(vocab[target])
            else:
                pieces = self.tokenizer(target, add_special_tokens=False)["input_ids"]
                if not pieces:
                    raise ValueError(f"Target {target!r} gives no token.")
                ids.append(pieces[0])
        return np.array(sorted(set(ids)), np.int64)

    def postprocess(self, text: str, rows: list[Row], outputs: list[dict[str, np.ndarray]], top_k: int = 5,
                    targets: str | list[str] | None = None, **kwargs: Any) -> Any:
        ids = rows[0].input_ids
        logits = outputs[0]["logits"]
        candidates_pool = None if targets is None else self._target_ids(targets)
        positions = [i for i, t in enumerate(ids) if t == self.tokenizer.mask_token_id]
        per_mask = []
        for position in positions:
            probs = softmax(logits[position])
            pool = np.arange(probs.shape[0]) if candidates_pool is None else candidates_pool
            best = pool[np.argsort(-probs[pool], kind="stable")[:top_k]]
            entries = []
            for token in best:
                filled = list(ids)
                filled[position] = int(token)
                entries.append({"score": float(probs[token]), "token": int(token),
                                "token_str": self.tokenizer.decode([int(token)]),
                                # as transformers: with several masks the special tokens (the other masks
                                # among them) stay in the sequence
                                "sequence": self.tokenizer.decode(filled, skip_special_tokens=len(positions) == 1)})
            per_mask.append(entries)
        return per_mask[0] if len(per_mask) == 1 else per_mask
