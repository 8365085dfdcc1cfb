"""transformers v4's Flax output classes (``FlaxMaskedLMOutput``, ...), registered as JAX pytrees.

Each subclasses the framework-free output of ``bert_core.outputs`` (same fields, same attribute / key / tuple
access) and is registered with ``jax.tree_util`` so a ``jax.jit`` / ``pmap`` / ``vmap`` / ``lax.scan`` function can
return it. Every field is a child (``None`` fields are empty subtrees), as with v4's ``flax.struct.dataclass``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from bert_core import outputs as O


def _flax_output(base: type[O.ModelOutput], name: str | None = None) -> type[O.ModelOutput]:
    name = name or f"Flax{base.__name__}"
    cls = dataclasses.make_dataclass(name, [], bases=(base,))
    cls.__module__ = __name__
    cls.__doc__ = f"{base.__doc__} A JAX pytree (every field a child)."
    jax.tree_util.register_dataclass(cls, data_fields=[f.name for f in dataclasses.fields(cls)], meta_fields=[])
    return cls


FlaxBaseModelOutputWithPoolingAndCrossAttentions = _flax_output(O.BaseModelOutputWithPoolingAndCrossAttentions)
FlaxBertForPreTrainingOutput = _flax_output(O.BertForPreTrainingOutput)
FlaxCausalLMOutputWithCrossAttentions = _flax_output(O.CausalLMOutputWithCrossAttentions)
FlaxMaskedLMOutput = _flax_output(O.MaskedLMOutput)
FlaxNextSentencePredictorOutput = _flax_output(O.NextSentencePredictorOutput)
FlaxSequenceClassifierOutput = _flax_output(O.SequenceClassifierOutput)
FlaxMultipleChoiceModelOutput = _flax_output(O.MultipleChoiceModelOutput)
FlaxTokenClassifierOutput = _flax_output(O.TokenClassifierOutput)
FlaxQuestionAnsweringModelOutput = _flax_output(O.QuestionAnsweringModelOutput)


@dataclasses.dataclass
class FlaxGreedySearchOutput(O.ModelOutput):
    """``generate()`` without sampling: ``sequences`` ``[batch, max_length]`` (prompt, new tokens, then padding)."""

    sequences: Any = None


@dataclasses.dataclass
class FlaxSampleOutput(O.ModelOutput):
    """``generate(do_sample=True)``: ``sequences`` ``[batch, max_length]``."""

    sequences: Any = None


for _cls in (FlaxGreedySearchOutput, FlaxSampleOutput):
    jax.tree_util.register_dataclass(_cls, data_fields=["sequences"], meta_fields=[])

__all__ = [
    "FlaxBaseModelOutputWithPoolingAndCrossAttentions", "FlaxBertForPreTrainingOutput",
    "FlaxCausalLMOutputWithCrossAttentions", "FlaxMaskedLMOutput", "FlaxNextSentencePredictorOutput",
    "FlaxSequenceClassifierOutput", "FlaxMultipleChoiceModelOutput", "FlaxTokenClassifierOutput",
    "FlaxQuestionAnsweringModelOutput", "FlaxGreedySearchOutput", "FlaxSampleOutput",
]
