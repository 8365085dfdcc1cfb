"""``generate()`` for ``TFBertLMHeadModel``: greedy decoding and sampling over the key/value cache.

Arguments are transformers' (``max_length``, ``max_new_tokens``, ``do_sample``, ``temperature``, ``top_k``,
``top_p``, ``eos_token_id``, ``pad_token_id``, ``seed``), with its defaults (``max_length=20`` counting the prompt,
``top_k=50``, ``top_p=1.0``) and its logits warpers in its order: temperature, then top-k, then top-p. The prompt
runs once; every later step feeds one token with ``past_key_values``. Sequences that produced ``eos_token_id`` are
continued with ``pad_token_id``; decoding stops when all have finished or at the length limit, and the result is
``[batch, prompt + generated]`` int32 token ids (prompt included, as transformers returns them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

logger = logging.getLogger("bert_tf")
DEFAULT_MAX_LENGTH = 20


def top_k_top_p_filter(logits: tf.Tensor, top_k: int = 0, top_p: float = 1.0) -> tf.Tensor:
    """Set logits outside the ``top_k`` highest / the smallest set with probability >= ``top_p`` to -inf
    (at least one token stays), as transformers' TFTopKLogitsWarper and TFTopPLogitsWarper."""
    vocab = logits.shape[-1]
    if top_k and 0 < top_k < vocab:
        kth = tf.math.top_k(logits, k=top_k).values[:, -1:]
        logits = tf.where(logits < kth, tf.cast(-np.inf, logits.dtype), logits)
    if top_p < 1.0:
        sorted_logits, order = tf.math.top_k(logits, k=vocab)
        cumulative = tf.math.cumsum(tf.nn.softmax(sorted_logits, axis=-1), axis=-1)
        keep_sorted = tf.concat([tf.ones_like(cumulative[:, :1], tf.bool), cumulative[:, :-1] < top_p], axis=-1)
        keep = tf.gather(tf.cast(keep_sorted, tf.int32),
                         tf.argsort(order, axis=-1, stable=True), batch_dims=1)  # back to vocabulary order
        logits = tf.where(keep > 0, logits, tf.cast(-np.inf, logits.dtype))
    return logits


def _as_list(token_id) -> list[int]:
    if token_id is None:
        return []
    return [int(t) for t in token_id] if isinstance(token_id, Sequence) else [int(token_id)]


class TFGenerationMixin:
    """``generate`` for a causal LM whose call takes ``past_key_values`` / ``use_cache`` and returns ``logits``."""

    def generate(self, inputs=None, attention_mask=None, max_length: int | None = None,
                 max_new_tokens: int | None = None, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int = 50, top_p: float = 1.0, eos_token_id: int | Sequence[int] | None = None,
                 pad_token_id: int | None = None, seed: int | Sequence[int] | None = None, use_cache: bool = True,
                 input_ids=None, token_type_ids=None) -> tf.Tensor:
        """Continue the prompt ``inputs`` (``[batch, seq]`` ids; ``input_ids=`` works too) as transformers did.

        ``seed``: an int or two ints; sampling is then reproducible (stateless sampling). ``use_cache=False``
        recomputes the whole sequence at every step (for checking; same tokens).
        """
        ids = input_ids if inputs is None else inputs
        if ids is None:
            raise ValueError("generate() needs a prompt: pass input_ids ([batch, seq] token ids), e.g. "
                             "model.generate(**tokenizer(texts, return_tensors='tf')).")
        ids = tf.cast(tf.convert_to_tensor(ids), tf.int32)
        if ids.shape.rank != 2:
            raise ValueError(f"input_ids must be [batch, seq], got shape {ids.shape}.")
        batch, prompt_len = int(ids.shape[0]), int(ids.shape[1])
        if max_new_tokens is not None:
            max_length = prompt_len + int(max_new_tokens)
        elif max_length is None:
            max_length = DEFAULT_MAX_LENGTH
        if max_length > self.config.max_position_embeddings:
            raise ValueError(f"max_length={max_length} exceeds max_position_embeddings="
                             f"{self.config.max_position_embeddings}: lower max_length / max_new_tokens.")
        if do_sample and (temperature is None or temperature <= 0):
            raise ValueError(f"temperature must be > 0 when sampling, got {temperature}.")
        eos = _as_list(self.config.eos_token_id if eos_token_id is None else eos_token_id)
        pad = self.config.pad_token_id if pad_token_id is None else pad_token_id
        if pad is None and eos:
            pad = eos[0]
        mask = tf.ones_like(ids) if attention_mask is None else tf.cast(tf.convert_to_tensor(attention_mask), tf.int32)
        seeds = None
        if do_sample and seed is not None:
            pair = [int(seed), 0] if np.ndim(seed) == 0 else [int(s) for s in seed]
            seeds = tf.random.experimental.stateless_split(tf.constant(pair, tf.int64), max(1, max_length))

        sequences, finished, past, step = ids, tf.zeros((batch,), tf.bool), None, 0
        types = None if token_type_ids is None else tf.cast(tf.convert_to_tensor(token_type_ids), tf.int32)
        while int(sequences.shape[1]) < max_length:
            if use_cache and past is not None:
                out = self(sequences[:, -1:], attention_mask=mask, past_key_values=past, use_cache=True,
                           token_type_ids=None if types is None else types[:, -1:])
            else:
                out = self(sequences, attention_mask=mask, use_cache=use_cache, token_type_ids=types)
            past = out.past_key_values if use_cache else None
            logits = tf.cast(out.logits[:, -1, :], tf.float32)
            if do_sample:
                logits = top_k_top_p_filter(logits / temperature, top_k or 0, top_p)
                if seeds is None:
                    token = tf.random.categorical(logits, 1, dtype=tf.int32)[:, 0]
                else:
                    token = tf.random.stateless_categorical(logits, 1, seeds[step], dtype=tf.int32)[:, 0]
            else:
                token = tf.argmax(logits, axis=-1, output_type=tf.int32)
            if pad is not None:
                token = tf.where(finished, tf.constant(pad, tf.int32), token)
            sequences = tf.concat([sequences, token[:, None]], axis=1)
            mask = tf.concat([mask, tf.ones((batch, 1), tf.int32)], axis=1)
            if types is not None:
                types = tf.concat([types, types[:, -1:]], axis=1)
            step += 1
            if eos:
                finished = finished | tf.reduce_any(token[:, None] == tf.constant(eos, tf.int32)[None], axis=1)
                if bool(tf.reduce_all(finished)):
                    break
        return sequences
