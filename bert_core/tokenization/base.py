"""What both BERT tokenizers share: the ``__call__`` contract, padding, decoding, loading and saving.

``TokenizerBase`` keeps transformers v4's public API (``__call__``, ``pad``, ``decode``, special-token properties,
``from_pretrained`` / ``save_pretrained``). A concrete tokenizer supplies the vocabulary lookups, ``_encode_batch``
(text pairs to per-row id lists), ``_decode_ids`` and the files it writes. Special tokens and id conversion live
in ``special``, padding / truncation rules in ``padding``, ``from_pretrained`` / ``save_pretrained`` in
``saving``, the output class in ``batch``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from bert_core.tokenization.batch import BatchEncoding
from bert_core.tokenization.padding import (VERY_LARGE_INTEGER, check_side, pad_encoding, resolve_strategies,
                                            truncate_sequences)
from bert_core.tokenization.saving import PretrainedFilesMixin
from bert_core.tokenization.special import SpecialTokensMixin, added_token_entry

__all__ = ["TokenizerBase", "added_token_entry"]

logger = logging.getLogger(__name__)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value))


class TokenizerBase(SpecialTokensMixin, PretrainedFilesMixin):
    """Shared machinery of ``BertTokenizer`` and ``BertTokenizerFast`` (transformers v4 semantics).

    Args:
        unk_token, sep_token, pad_token, cls_token, mask_token, bos_token, eos_token: the special tokens
            (strings; None when the tokenizer has none).
        additional_special_tokens: further tokens treated as special (never split, skipped by decode).
        model_max_length: the longest input the model takes (truncation / ``padding="max_length"`` default).
        padding_side, truncation_side: "right" (default) or "left".
        clean_up_tokenization_spaces: default of ``decode``'s option of that name.
        name_or_path: where the tokenizer was loaded from (informative).
    """

    model_input_names: ClassVar[list[str]] = ["input_ids", "token_type_ids", "attention_mask"]
    is_fast: ClassVar[bool] = False
    pad_token_type_id: ClassVar[int] = 0

    def __init__(self, *, unk_token: str | None = "[UNK]", sep_token: str | None = "[SEP]",
                 pad_token: str | None = "[PAD]", cls_token: str | None = "[CLS]",
                 mask_token: str | None = "[MASK]", bos_token: str | None = None, eos_token: str | None = None,
                 additional_special_tokens: Sequence[str] | None = None, model_max_length: int | None = None,
                 padding_side: str = "right", truncation_side: str = "right",
                 clean_up_tokenization_spaces: bool = True, name_or_path: str = "", **unused: Any) -> None:
        for key in unused:
            if not key.startswith("_"):
                logger.info("Tokenizer option %r is not used by %s; it is ignored.", key, type(self).__name__)
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token, self.bos_token, self.eos_token = cls_token, mask_token, bos_token, eos_token
        self.additional_special_tokens = list(additional_special_tokens or [])
        self.model_max_length = VERY_LARGE_INTEGER if model_max_length is None else int(model_max_length)
        self.padding_side = check_side("padding_side", padding_side)
        self.truncation_side = check_side("truncation_side", truncation_side)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.name_or_path = str(name_or_path)
        self._warned_too_long = False

    # ---- encoding --------------------------------------------------------------------------------------------
    def __call__(self, text: str | Sequence[str], text_pair: str | Sequence[str] | None = None, *,
                 add_special_tokens: bool = True, padding: bool | str = False, truncation: bool | str | None = None,
                 max_length: int | None = None, stride: int = 0, pad_to_multiple_of: int | None = None,
                 padding_side: str | None = None, return_tensors: str | None = None,
                 return_token_type_ids: bool | None = None, return_attention_mask: bool | None = None,
                 return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                 return_offsets_mapping: bool = False, return_length: bool = False,
                 verbose: bool = True) -> BatchEncoding:
        """Tokenize one text, a pair, or a batch of texts / pairs for the model.

        ``padding``: False, True / "longest", "max_length". ``truncation``: False, True / "longest_first",
        "only_first", "only_second". ``return_tensors``: None (lists), "np", "pt", "tf" or "jax". A single text
        gives flat lists (``[1, n]`` tensors when ``return_tensors`` is set); a batch gives one row per input.
        """
        if not _is_text(text):
            raise ValueError(f"text must be a str or a list of str, got {type(text).__name__}.")
        if text_pair is not None and not _is_text(text_pair):
            raise ValueError(f"text_pair must be a str or a list of str, got {type(text_pair).__name__}.")
        batched = isinstance(text, (list, tuple))
        if batched:
            if text_pair is not None and (isinstance(text_pair, str) or len(text_pair) != len(text)):
                raise ValueError("With a batch of texts, text_pair must be a list of the same length "
                                 f"({len(text)}), got {text_pair!r:.80}.")
            pairs = list(zip(text, text_pair)) if text_pair is not None else [(t, None) for t in text]
        else:
            if isinstance(text_pair, (list, tuple)):
                raise ValueError("text is a single str, so text_pair must be a str too (or None).")
            pairs = [(text, self._single_pair(text_pair))]
        if padding_side is not None:
            check_side("padding_side", padding_side)
        if stride < 0:
            raise ValueError(f"stride must be >= 0, got {stride}.")
        padding_strategy, truncation_strategy, max_length = resolve_strategies(
            padding, truncation, max_length, pad_to_multiple_of, self.model_max_length, self.pad_token is not None)
        options = dict(add_special_tokens=add_special_tokens, padding_strategy=padding_strategy,
                       truncation_strategy=truncation_strategy, max_length=max_length, stride=stride,
                       pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side or self.padding_side,
                       return_token_type_ids=return_token_type_ids,  # None = default, resolved later
                       return_attention_mask=("attention_mask" in self.model_input_names
                                              if return_attention_mask is None else return_attention_mask),
                       return_overflowing_tokens=return_overflowing_tokens,
                       return_special_tokens_mask=return_special_tokens_mask,
                       return_offsets_mapping=return_offsets_mapping, return_length=return_length)
        if not pairs:  # an empty batch
            keys = ["input_ids"] + [k for k, on in (("token_type_ids", return_token_type_ids is not False),
                                                    ("attention_mask", options["return_attention_mask"])) if on]
            return BatchEncoding({k: [] for k in keys}, [] if self.is_fast else None)
        data, encodings = self._encode_batch(pairs, **options)
        if verbose and max_length is None:
            self._warn_if_too_long(data["input_ids"])
        if not batched and return_tensors is None:
            data = self._unbatch(data, return_overflowing_tokens)
        return BatchEncoding(data, encodings, tensor_type=return_tensors)

    def _single_pair(self, text_pair: str | None) -> str | None:
        """How a single call treats its ``text_pair`` (the fast tokenizer drops an empty one, as transformers)."""
        return text_pair

    def _unbatch(self, data: dict[str, list], return_overflowing_tokens: bool) -> dict[str, Any]:
        return {key: value[0] for key, value in data.items()}

    def _encode_batch(self, pairs: list[tuple[str, str | None]], **options: Any) -> tuple[dict[str, list], list | None]:
        raise NotImplementedError

    def _warn_if_too_long(self, rows: list[list[int]]) -> None:
        longest = max((len(r) for r in rows), default=0)
        if longest > self.model_max_length and self.model_max_length and not self._warned_too_long:
            self._warned_too_long = True
            logger.warning("Token indices sequence length is longer than the specified maximum sequence length for "
                           "this model (%d > %d). Running this sequence through the model will result in indexing "
                           "errors; pass truncation=True.", longest, self.model_max_length)

    def encode(self, text: str, text_pair: str | None = None, **kwargs: Any) -> list[int]:
        """The ``input_ids`` of ``__call__(text, text_pair, **kwargs)``."""
        return self(text, text_pair, **kwargs)["input_ids"]

    def prepare_for_model(self, ids: list[int], pair_ids: list[int] | None = None, *, add_special_tokens: bool = True,
                          truncation_strategy: str = "do_not_truncate", max_length: int | None = None,
                          stride: int = 0, return_token_type_ids: bool | None = None,
                          return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                          return_length: bool = False, **_: Any) -> dict[str, Any]:
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

    def pad(self, encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]], padding: bool | str = True,
            max_length: int | None = None, pad_to_multiple_of: int | None = None, padding_side: str | None = None,
            return_attention_mask: bool | None = None, return_tensors: str | None = None) -> BatchEncoding:
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

    # ---- decoding --------------------------------------------------------------------------------------------
    def decode(self, token_ids: int | Sequence[int], skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool | None = None) -> str:
        """Turn ids back into text (WordPiece ``##`` joined, special tokens optionally left out)."""
        if hasattr(token_ids, "tolist"):
            token_ids = token_ids.tolist()
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        text = self._decode_ids(list(token_ids), skip_special_tokens)
        clean = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None \
            else clean_up_tokenization_spaces
        return self.clean_up_tokenization(text) if clean else text

    def batch_decode(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None) -> list[str]:
        """``decode`` each sequence."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in sequences]

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        raise NotImplementedError

    @staticmethod
    def clean_up_tokenization(text: str) -> str:
        """Remove the spaces WordPiece decoding leaves before punctuation and English contractions."""
        for old, new in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                         (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            text = text.replace(old, new)
        return text
