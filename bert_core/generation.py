"""Framework-free pieces of ``generate()``: the arguments (transformers v4's names and defaults), their
validation, and the length rule. Each framework's ``generation.py`` runs the decoding loop on its own tensors.

Decoding order per step (transformers' order): logits of the last position -> (sampling only) temperature,
top-k, top-p -> argmax or a draw -> finished rows get ``pad_token_id`` -> a row finishes when it emits an
``eos_token_id``; the loop ends when every row has finished or the length limit is reached.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# The order transformers applies its sampling warpers in.
WARPERS = ("temperature", "top_k", "top_p")


@dataclasses.dataclass
class GenerationConfig:
    """``generate()``'s arguments, with transformers v4's names and defaults.

    Args:
        max_length: total length (prompt + new tokens) to stop at; ``max_new_tokens`` wins when both are set.
        max_new_tokens: number of tokens to add to the prompt.
        do_sample: draw from the (warped) distribution instead of taking the argmax (greedy).
        temperature: divide the logits by this (> 0) before sampling.
        top_k: keep the k most likely tokens when sampling (0: no limit).
        top_p: keep the smallest set of tokens whose probability reaches top_p when sampling (1.0: all).
        eos_token_id: id (or ids) that ends a row.
        pad_token_id: id written after a row has ended (defaults to the first eos id when unset).
        bos_token_id: the prompt when ``generate`` gets no ``input_ids``.
        use_cache: feed the key/value cache back instead of recomputing the whole sequence each step.
    """

    max_length: int = 20
    max_new_tokens: int | None = None
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    use_cache: bool = True

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_model_config(cls, model_config: Any = None, generation_config: "GenerationConfig | None" = None,
                          **kwargs: Any) -> "GenerationConfig":
        """``generation_config`` (or the defaults, with the model config's bos / eos / pad ids) updated by
        ``kwargs``; an unknown keyword raises ``TypeError`` naming it."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise TypeError(f"generate() got unknown arguments: {', '.join(unknown)}. It accepts "
                            f"{', '.join(sorted(names))} (and the model inputs).")
        if generation_config is not None:
            base = dataclasses.asdict(generation_config)
        else:
            base = {k: getattr(model_config, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
        base.update(kwargs)
        return cls(**base)

    def validate(self) -> None:
        """Raise ValueError naming the first argument that cannot drive a decoding loop."""
        def positive_int(name: str, value: Any, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")

        positive_int("max_length", self.max_length)
        positive_int("max_new_tokens", self.max_new_tokens, allow_none=True)
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0 (0 keeps every token), got {self.top_k!r}.")
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {self.temperature!r}; for greedy decoding "
                             "use do_sample=False.")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}.")
        for name in ("pad_token_id", "bos_token_id"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a token id (an integer >= 0) or None, got {value!r}.")
        for value in self.eos_ids:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"eos_token_id must be a token id or a list of them, got {self.eos_token_id!r}.")

    @property
    def eos_ids(self) -> tuple[int, ...]:
        """``eos_token_id`` as a tuple (empty when unset)."""
        if self.eos_token_id is None:
            return ()
        return tuple(self.eos_token_id) if isinstance(self.eos_token_id, (list, tuple)) else (self.eos_token_id,)

    @property
    def fill_id(self) -> int | None:
        """The id written after a row ends: ``pad_token_id``, else the first eos id (as transformers)."""
        if self.pad_token_id is not None:
            return self.pad_token_id
        return self.eos_ids[0] if self.eos_ids else None

    def total_length(self, prompt_len: int, max_positions: int | None = None) -> int:
        """Length of the longest output for a prompt of ``prompt_len`` tokens; raises ValueError when nothing
        would be generated or the model cannot hold the sequence (``max_positions``)."""
        total = prompt_len + self.max_new_tokens if self.max_new_tokens is not None else self.max_length
        if total <= prompt_len:
            raise ValueError(f"The prompt has {prompt_len} tokens and max_length={self.max_length}: nothing to "
                             "generate. Raise max_length or set max_new_tokens.")
        if max_positions is not None and total > max_positions:
            raise ValueError(f"Generating up to {total} tokens exceeds max_position_embeddings={max_positions}. "
                             "Lower max_new_tokens / max_length or shorten the prompt.")
        return total
