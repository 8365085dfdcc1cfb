"""``generate()`` for ``FlaxBertForCausalLM``: greedy search or sampling (temperature, top-k, top-p) with the
key/value cache, as transformers v4's ``FlaxGenerationMixin`` did for its Flax decoders.

The prompt runs once through the model with an empty cache (``init_cache``); each new token then costs one
single-token step. The whole loop is one jitted ``lax.while_loop`` (``trace=False`` runs it in Python, step by
step, for debugging). ``sequences`` is ``[batch, max_length]``: the prompt, the new tokens, and ``pad_token_id``
after a row produced ``eos_token_id`` (transformers' layout). The same arguments name the same things in
``bert_torch`` and ``bert_tf``; greedy tokens agree across the three.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bert_core.checks import check_ids_in_range
from bert_flax import inputs as I
from bert_flax.outputs import FlaxGreedySearchOutput, FlaxSampleOutput

DEFAULT_MAX_LENGTH = 20  # transformers' GenerationConfig.max_length
_GENERATION_FIELDS = ("max_length", "max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "eos_token_id",
                      "pad_token_id")


def process_logits(logits, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    """transformers' Flax warpers in their order: temperature, top-k (exactly k kept), top-p (the smallest set
    whose probability reaches ``top_p``, at least one token). Filtered tokens get ``-inf``."""
    logits = logits.astype(jnp.float32)
    if temperature != 1.0:
        logits = logits / temperature
    batch, vocab = logits.shape
    rows = jnp.arange(batch)[:, None]
    if 0 < top_k < vocab:
        scores, index = lax.top_k(logits, top_k)
        logits = jnp.full_like(logits, -jnp.inf).at[rows, index].set(scores)
    if top_p < 1.0:
        scores, index = lax.top_k(logits, vocab)  # sorted, highest first
        cumulative = jnp.cumsum(jax.nn.softmax(scores, axis=-1), axis=-1)
        keep = jnp.roll(cumulative < top_p, 1, axis=-1).at[:, 0].set(True)  # up to the token crossing top_p
        logits = jnp.full_like(logits, -jnp.inf).at[rows, index].set(jnp.where(keep, scores, -jnp.inf))
    return logits


class FlaxGenerationMixin:
    """``prepare_inputs_for_generation``, ``update_inputs_for_generation`` and ``generate`` over a cached decoder."""

    def prepare_inputs_for_generation(self, input_ids, max_length: int, attention_mask=None) -> dict:
        """An empty cache of ``max_length``, the mask over it (nonzero = keep) and the prompt's positions (left
        padding aware), as transformers' Flax decoders."""
        batch, seq = input_ids.shape
        extended = jnp.ones((batch, max_length), jnp.int32)
        if attention_mask is not None:
            mask = (jnp.asarray(attention_mask) != 0).astype(jnp.int32)
            position_ids = jnp.maximum(jnp.cumsum(mask, axis=-1) - 1, 0)
            extended = lax.dynamic_update_slice(extended, mask, (0, 0))
        else:
            position_ids = jnp.broadcast_to(jnp.arange(seq, dtype=jnp.int32)[None], (batch, seq))
        return {"past_key_values": self.init_cache(batch, max_length), "attention_mask": extended,
                "position_ids": position_ids}

    def update_inputs_for_generation(self, model_outputs, model_kwargs: dict) -> dict:
        """After a step: the new cache, and the next token's position."""
        model_kwargs["past_key_values"] = model_outputs.past_key_values
        model_kwargs["position_ids"] = model_kwargs["position_ids"][:, -1:] + 1
        return model_kwargs

    def generate(self, input_ids, attention_mask=None, max_length: int | None = None,
                 max_new_tokens: int | None = None, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int = 50, top_p: float = 1.0, eos_token_id: int | None = None,
                 pad_token_id: int | None = None, prng_key: Any = None, params: dict | None = None,
                 trace: bool = True, generation_config: Any = None, num_beams: int = 1):
        """Continue ``input_ids`` ``[batch, seq]``; returns ``FlaxGreedySearchOutput`` / ``FlaxSampleOutput``
        with ``sequences`` ``[batch, max_length]``.

        ``max_new_tokens`` (or ``max_length``, prompt included; default 20) bounds the length; a row stops at
        ``eos_token_id`` (default ``config.eos_token_id``) and is filled with ``pad_token_id`` (default
        ``config.pad_token_id``). ``do_sample=True`` draws from the logits after ``temperature``, ``top_k``
        (0: off) and ``top_p`` with ``prng_key`` (default ``PRNGKey(0)``). ``generation_config`` (an object or a
        dict) supplies the arguments left at their defaults.
        """
        args = dict(max_length=max_length, max_new_tokens=max_new_tokens, do_sample=do_sample,
                    temperature=temperature, top_k=top_k, top_p=top_p, eos_token_id=eos_token_id,
                    pad_token_id=pad_token_id)
        if generation_config is not None:
            get = generation_config.get if isinstance(generation_config, dict) else (
                lambda k, d=None: getattr(generation_config, k, d))
            defaults = dict(max_length=None, max_new_tokens=None, do_sample=False, temperature=1.0, top_k=50,
                            top_p=1.0, eos_token_id=None, pad_token_id=None)
            args.update({k: get(k, args[k]) for k in _GENERATION_FIELDS if args[k] == defaults[k]})
            num_beams = get("num_beams", num_beams) or 1
        if num_beams != 1:
            raise ValueError(f"num_beams={num_beams}: only greedy search and sampling are implemented (num_beams=1).")
        cfg = self.config
        if not cfg.is_decoder:
            raise ValueError("generate() needs a decoder: build the model with config.is_decoder=True.")
        batch, seq = input_ids.shape
        if args["max_new_tokens"] is not None:
            total = seq + int(args["max_new_tokens"])
        else:
            total = int(args["max_length"] if args["max_length"] is not None else DEFAULT_MAX_LENGTH)
        if total <= seq:
            raise ValueError(f"max_length={total} leaves no room after the {seq} prompt tokens; pass max_new_tokens.")
        eos = args["eos_token_id"] if args["eos_token_id"] is not None else cfg.eos_token_id
        pad = args["pad_token_id"] if args["pad_token_id"] is not None else cfg.pad_token_id
        pad = pad if pad is not None else (eos if eos is not None else 0)
        params = self.params if params is None else params
        if not I.is_traced(input_ids, attention_mask):
            I.check_integer_inputs(input_ids=input_ids)
            check_ids_in_range(np.asarray(input_ids), cfg.vocab_size, "input_ids", "vocab_size")
        sample = bool(args["do_sample"])
        static = dict(max_length=total, sample=sample, temperature=float(args["temperature"]) if sample else 1.0,
                      top_k=int(args["top_k"] or 0) if sample else 0, top_p=float(args["top_p"]) if sample else 1.0,
                      eos=None if eos is None else int(eos), pad=int(pad))
        prng_key = jax.random.PRNGKey(0) if prng_key is None else prng_key
        mask = None if attention_mask is None else jnp.asarray(attention_mask)
        run = functools.partial(self._generate_loop, trace=trace, **static)
        if trace:
            key = ("generate", mask is None, tuple(sorted(static.items())))
            if key not in self._jitted:
                self._jitted[key] = jax.jit(run)
            run = self._jitted[key]
        sequences = run(params, jnp.asarray(input_ids), mask, prng_key)
        return (FlaxSampleOutput if sample else FlaxGreedySearchOutput)(sequences=sequences)

    def _generate_loop(self, params, input_ids, attention_mask, prng_key, *, max_length, sample, temperature, top_k,
                       top_p, eos, pad, trace):
        batch, seq = input_ids.shape
        kwargs = self.prepare_inputs_for_generation(input_ids, max_length, attention_mask)
        out = self(input_ids, params=params, **kwargs)
        kwargs = self.update_inputs_for_generation(out, kwargs)
        sequences = jnp.full((batch, max_length), pad, jnp.int32)
        sequences = lax.dynamic_update_slice(sequences, input_ids.astype(jnp.int32), (0, 0))
        state = (jnp.asarray(seq), sequences, out.logits[:, -1], jnp.zeros((batch,), bool),
                 kwargs["past_key_values"], kwargs["position_ids"], prng_key)
        full_mask = kwargs["attention_mask"]

        def cond(state):
            cur, _, _, finished, *_ = state
            return (cur < max_length) & ~jnp.all(finished)

        def body(state):
            cur, sequences, logits, finished, cache, position_ids, key = state
            key, step_key = jax.random.split(key)
            if sample:
                token = jax.random.categorical(step_key, process_logits(logits, temperature, top_k, top_p), axis=-1)
            else:
                token = jnp.argmax(logits, axis=-1)
            token = jnp.where(finished, pad, token).astype(jnp.int32)
            if eos is not None:
                finished = finished | (token == eos)
            sequences = lax.dynamic_update_slice(sequences, token[:, None], (0, cur))
            out = self(token[:, None], attention_mask=full_mask, position_ids=position_ids, params=params,
                       past_key_values=cache)
            return (cur + 1, sequences, out.logits[:, -1], finished, out.past_key_values, position_ids + 1, key)

        if trace:
            state = lax.while_loop(cond, body, state)
        else:
            while bool(cond(state)):
                state = body(state)
        return state[1]
