"""Model outputs with transformers' field names, shared by the three frameworks.

An output is a dataclass whose unset (None) fields are left out of its tuple view, as in transformers:
``out.logits``, ``out["logits"]`` and ``out[0]`` all work, and ``out.to_tuple()`` is what ``return_dict=False``
returns.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


@dataclasses.dataclass
class ModelOutput:
    """Base of every output class: attribute, key and tuple access to the fields that are not None."""

    # transformers' return_dict=False tuples: fields in this order (default: field order), None ones left out
    # except those named in _tuple_keeps_none.
    _tuple_order: ClassVar[tuple[str, ...]] = ()
    _tuple_keeps_none: ClassVar[tuple[str, ...]] = ()

    def _items(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None]

    def keys(self) -> list[str]:
        return [k for k, _ in self._items()]

    def values(self) -> list[Any]:
        return [v for _, v in self._items()]

    def items(self) -> list[tuple[str, Any]]:
        return self._items()

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())

    def return_tuple(self) -> tuple[Any, ...]:
        """What transformers v4 returns with ``return_dict=False`` (``BertModel`` keeps a None pooler output)."""
        order = self._tuple_order or tuple(f.name for f in dataclasses.fields(self))
        return tuple(getattr(self, name) for name in order
                     if getattr(self, name) is not None or name in self._tuple_keeps_none)

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            return dict(self._items())[key]
        return self.to_tuple()[key]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items())

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        return default if value is None else value


def _output(name: str, *fields: str) -> type[ModelOutput]:
    cls = dataclasses.make_dataclass(name, [(f, Any, None) for f in fields], bases=(ModelOutput,))
    cls.__module__ = __name__
    cls.__doc__ = f"Output with fields {', '.join(fields)} (transformers' names); None fields are left out."
    return cls


_COMMON = ("hidden_states", "attentions")
BaseModelOutputWithPoolingAndCrossAttentions = _output(
    "BaseModelOutputWithPoolingAndCrossAttentions",
    "last_hidden_state", "pooler_output", "hidden_states", "past_key_values", "attentions", "cross_attentions")
BaseModelOutputWithPoolingAndCrossAttentions._tuple_order = (
    "last_hidden_state", "pooler_output", "past_key_values", "hidden_states", "attentions", "cross_attentions")
BaseModelOutputWithPoolingAndCrossAttentions._tuple_keeps_none = ("pooler_output",)
BertForPreTrainingOutput = _output(
    "BertForPreTrainingOutput", "loss", "prediction_logits", "seq_relationship_logits", *_COMMON)
CausalLMOutputWithCrossAttentions = _output(
    "CausalLMOutputWithCrossAttentions", "loss", "logits", "past_key_values", *_COMMON, "cross_attentions")
MaskedLMOutput = _output("MaskedLMOutput", "loss", "logits", *_COMMON)
NextSentencePredictorOutput = _output("NextSentencePredictorOutput", "loss", "logits", *_COMMON)
SequenceClassifierOutput = _output("SequenceClassifierOutput", "loss", "logits", *_COMMON)
MultipleChoiceModelOutput = _output("MultipleChoiceModelOutput", "loss", "logits", *_COMMON)
TokenClassifierOutput = _output("TokenClassifierOutput", "loss", "logits", *_COMMON)
QuestionAnsweringModelOutput = _output(
    "QuestionAnsweringModelOutput", "loss", "start_logits", "end_logits", *_COMMON)

__all__ = [
    "ModelOutput", "BaseModelOutputWithPoolingAndCrossAttentions", "BertForPreTrainingOutput",
    "CausalLMOutputWithCrossAttentions", "MaskedLMOutput", "NextSentencePredictorOutput",
    "SequenceClassifierOutput", "MultipleChoiceModelOutput", "TokenClassifierOutput", "QuestionAnsweringModelOutput",
]
