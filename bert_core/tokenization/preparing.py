"""From id lists to model inputs: ``prepare_for_model`` (truncation, special tokens, per-sequence fields, padding)
and ``pad``, with transformers v4's semantics, shared by both BERT tokenizers."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bert_core.tokenization.batch import BatchEncoding
from bert_core.tokenization.padding import check_side, pad_encoding, resolve_strategies, truncate_sequences

__all__ = ["PrepareMixin"]

logger = logging.getLogger(__name__)


class PrepareMixin:
    """``prepare_for_model`` and ``pad`` of ``TokenizerBase`` (which supplies the special tokens, the model's
    limits and ``build_inputs_with_special_tokens`` / ``create_token_type_ids_from_sequences``)."""

    def prepare_for_model(self, ids: list[int], pair_ids: list[int] | None = None, *, add_special_tokens: bool = True,
                          padding: bool | str = False, truncation: bool | str | None = None,
                          max_length: int | None = None, stride: int = 0, pad_to_multiple_of: int | None = None,
                          padding_side: str | None = None, return_tensors: str | None = None,
                          return_token_type_ids: bool | None = None, return_attention_mask: bool | None = None,
                          return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                          return_offsets_mapping: bool = False, return_length: bool = False, verbose: bool = True,
                          prepend_batch_axis: bool = False, **kwargs: Any) -> BatchEncoding:
        """Turn one id list (or a pair) into model inputs, as transformers v4's ``prepare_for_model``.

        Truncates (``truncation`` / ``max_length`` / ``stride``, overflowing ids in ``overflowing_tokens``), adds
        ``[CLS] A [SEP] (B [SEP])``, builds ``token_type_ids`` / ``special_tokens_mask``, pads (``padding``) and
        adds the ``attention_mask``. ``return_tensors`` gives ``[n]`` tensors (``[1, n]`` with
        ``prepend_batch_axis=True``).
        """
        if return_offsets_mapping:
            raise NotImplementedError("prepare_for_model works on ids, which carry no character offsets; call the "
                                      "tokenizer on the text with return_offsets_mapping=True instead.")
        for name, value in (("ids", ids), ("pair_ids", pair_ids)):
            if value is not None and not all(isinstance(i, int) or hasattr(i, "__index__") for i in value):
                raise ValueError(f"prepare_for_model needs {name} as a list of ints (token ids), got {value!r:.80}; "
                                 "encode text with the tokenizer's __call__ or convert_tokens_to_ids first.")
        padding_strategy, truncation_strategy, max_length = resolve_strategies(
            padding, truncation, max_length, pad_to_multiple_of, self.model_max_length, self.pad_token is not None)
        out = self._prepare_ids(list(ids), None if pair_ids is None else list(pair_ids),
                                add_special_tokens=add_special_tokens, truncation_strategy=truncation_strategy,
                                max_length=max_length, stride=stride, return_token_type_ids=return_token_type_ids,
                                return_overflowing_tokens=return_overflowing_tokens,
                                return_special_tokens_mask=return_special_tokens_mask)
        if verbose and max_length is None:
            self._warn_if_too_long([out["input_ids"]])
        if padding_strategy != "do_not_pad" or return_attention_mask is not False:
            out = dict(self.pad(out, padding=padding_strategy, max_length=max_length,
                                pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                                return_attention_mask=return_attention_mask))
        if return_length:
            out["length"] = len(out["input_ids"])
        return BatchEncoding(out, tensor_type=return_tensors, prepend_batch_axis=prepend_batch_axis)

    def _prepare_ids(self, ids: list[int], pair_ids: list[int] | None = None, *, add_special_tokens: bool = True,
                     truncation_strategy: str = "do_not_truncate", max_length: int | None = None, stride: int = 0,
                     return_token_type_ids: bool | None = None, return_overflowing_tokens: bool = False,
                     return_special_tokens_mask: bool = False, return_length: bool = False,
                     **_: Any) -> dict[str, Any]:
        """Truncate ids (transformers' pure-Python rules), add special tokens, build the per-sequence fields.

        No padding and no attention mask here: ``pad`` adds them for the whole batch.
        """
        pair = pair_ids is not None
        if return_token_type_ids and not add_special_tokens:
            raise ValueError("Asking to return token_type_ids while setting add_special_tokens to False results in "
                             "an undefined behavior. Please set add_special_tokens to True or set "
                             "return_token_type_ids to None.")
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_overflowing_tokens and truncation_strategy == "longest_first" and pair:
            raise ValueError("Overflowing tokens cannot be returned for pairs with truncation='longest_first'; use "
                             "'only_first' or 'only_second'.")
        total = len(ids) + (len(pair_ids) if pair else 0) + (self.num_special_tokens_to_add(pair)
                                                             if add_special_tokens else 0)
        overflowing: list[int] = []
        if truncation_strategy != "do_not_truncate" and max_length and total > max_length:
            ids, pair_ids, overflowing = truncate_sequences(ids, pair_ids, total - max_length, truncation_strategy,
                                                            stride, self.truncation_side)
        out: dict[str, Any] = {}
        if return_overflowing_tokens:
            out["overflowing_tokens"] = overflowing
            out["num_truncated_tokens"] = total - max_length if max_length is not None else 0
        if add_special_tokens:
            out["input_ids"] = self.build_inputs_with_special_tokens(ids, pair_ids)
            token_type_ids = self.create_token_type_ids_from_sequences(ids, pair_ids)
        else:
            out["input_ids"] = ids + pair_ids if pair else list(ids)
            token_type_ids = [0] * len(out["input_ids"])
        if return_token_type_ids:
            out["token_type_ids"] = token_type_ids
        if return_special_tokens_mask:
            out["special_tokens_mask"] = (self.get_special_tokens_mask(ids, pair_ids) if add_special_tokens
                                          else [0] * len(out["input_ids"]))
        if return_length:
            out["length"] = len(out["input_ids"])
        return out

    def truncate_sequences(self, ids: list[int], pair_ids: list[int] | None = None, num_tokens_to_remove: int = 0,
                           truncation_strategy: str = "longest_first",
                           stride: int = 0) -> tuple[list[int], list[int] | None, list[int]]:
        """Remove ``num_tokens_to_remove`` ids (transformers v4's rules, on ``truncation_side``); returns
        ``(ids, pair_ids, overflowing_tokens)``."""
        strategy = getattr(truncation_strategy, "value", truncation_strategy)
        strategy = "longest_first" if strategy is True else strategy
        if strategy not in ("longest_first", "only_first", "only_second", "do_not_truncate"):
            raise ValueError(f"Unknown truncation_strategy {truncation_strategy!r}.")
        if strategy == "do_not_truncate":
            return list(ids), None if pair_ids is None else list(pair_ids), []
        return truncate_sequences(list(ids), None if pair_ids is None else list(pair_ids), num_tokens_to_remove,
                                  strategy, stride, self.truncation_side)

    def pad(self, encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]], padding: bool | str = True,
            max_length: int | None = None, pad_to_multiple_of: int | None = None, padding_side: str | None = None,
            return_attention_mask: bool | None = None, return_tensors: str | None = None,
            verbose: bool = True) -> BatchEncoding:
        """Pad one encoding or a batch (dict of lists, or list of dicts) to the longest row or ``max_length``."""
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
            encoded_inputs = {k: [row[k] for row in encoded_inputs] for k in encoded_inputs[0]}
        data = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in dict(encoded_inputs).items()}
        if "input_ids" not in data:
            raise ValueError(f"pad needs 'input_ids' in its input; it got {sorted(data)}.")
        strategy, _, max_length = resolve_strategies(padding, None, max_length, None, self.model_max_length,
                                                     self.pad_token is not None)
        side = check_side("padding_side", padding_side or self.padding_side)
        attention = "attention_mask" in self.model_input_names if return_attention_mask is None \
            else return_attention_mask
        kwargs = dict(pad_token_id=self.pad_token_id, pad_token_type_id=self.pad_token_type_id,
                      pad_to_multiple_of=pad_to_multiple_of, padding_side=side, return_attention_mask=attention)
        ids = data["input_ids"]
        if not ids or not isinstance(ids[0], (list, tuple)):
            return BatchEncoding(pad_encoding(data, max_length, strategy, **kwargs), tensor_type=return_tensors)
        if strategy == "longest":
            strategy, max_length = "max_length", max(len(row) for row in ids)
        if strategy == "do_not_pad" or (not pad_to_multiple_of and all(len(row) == max_length for row in ids)):
            if attention and "attention_mask" not in data:
                data["attention_mask"] = [[1] * len(row) for row in ids]
            return BatchEncoding(data, tensor_type=return_tensors)
        rows = [pad_encoding({k: v[i] for k, v in data.items()}, max_length, strategy, **kwargs)
                for i in range(len(ids))]
        keys = list(rows[0]) if rows else list(data)
        return BatchEncoding({k: [row[k] for row in rows] for k in keys}, tensor_type=return_tensors)

    def _warn_if_too_long(self, rows: list[list[int]]) -> None:
        longest = max((len(r) for r in rows), default=0)
        if longest > self.model_max_length and self.model_max_length and not self._warned_too_long:
            self._warned_too_long = True
            logger.warning("Token indices sequence length is longer than the specified maximum sequence length for "
                           "this model (%d > %d). Running this sequence through the model will result in indexing "
                           "errors; pass truncation=True.", longest, self.model_max_length)
