"""What both BERT tokenizers share: the ``__call__`` contract, padding, decoding, loading and saving.

``TokenizerBase`` keeps transformers v4's public API (``__call__``, ``pad``, ``decode``, special-token properties,
``from_pretrained`` / ``save_pretrained``). A concrete tokenizer supplies the vocabulary lookups, ``_encode_batch``
(text pairs to per-row id lists), ``_decode_ids`` and the files it writes. Special tokens and id conversion live
in ``special``, padding / truncation rules in ``padding``, ``from_pretrained`` / ``save_pretrained`` in
``saving``, the output class in ``batch``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from bert_core.tokenization.added import AddedTokensMixin
from bert_core.tokenization.batch import BatchEncoding
from bert_core.tokenization.inputs import TextInput, check_input, is_batch
from bert_core.tokenization.padding import VERY_LARGE_INTEGER, check_side, resolve_strategies
from bert_core.tokenization.preparing import PrepareMixin
from bert_core.tokenization.saving import PretrainedFilesMixin
from bert_core.tokenization.special import SpecialTokensMixin

__all__ = ["TokenizerBase"]

logger = logging.getLogger(__name__)


class TokenizerBase(AddedTokensMixin, SpecialTokensMixin, PrepareMixin, PretrainedFilesMixin):
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
        self._special_extended: dict[str, Any] = {}  # special tokens given as AddedToken, by content
        tokens = dict(unk_token=unk_token, sep_token=sep_token, pad_token=pad_token, cls_token=cls_token,
                      mask_token=mask_token, bos_token=bos_token, eos_token=eos_token)
        for name, token in tokens.items():
            setattr(self, name, self._special_content(token))
        self.additional_special_tokens = [self._special_content(t) for t in additional_special_tokens or []]
        self.model_max_length = VERY_LARGE_INTEGER if model_max_length is None else int(model_max_length)
        self.padding_side = check_side("padding_side", padding_side)
        self.truncation_side = check_side("truncation_side", truncation_side)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.name_or_path = str(name_or_path)
        self._warned_too_long = False

    def _special_content(self, token: Any) -> str | None:
        """The string of a special token given as str or AddedToken (whose options are kept for registering)."""
        if token is None or isinstance(token, str):
            return token
        if not hasattr(token, "content"):
            raise ValueError(f"Special tokens must be str or AddedToken, got {type(token).__name__}: {token!r:.80}.")
        self._special_extended[token.content] = token
        return token.content

    # ---- encoding --------------------------------------------------------------------------------------------
    def __call__(self, text: TextInput | Sequence[TextInput], text_pair: TextInput | Sequence[TextInput] | None = None,
                 *, add_special_tokens: bool = True, padding: bool | str = False,
                 truncation: bool | str | None = None, max_length: int | None = None, stride: int = 0,
                 is_split_into_words: bool = False, pad_to_multiple_of: int | None = None,
                 padding_side: str | None = None, return_tensors: str | None = None,
                 return_token_type_ids: bool | None = None, return_attention_mask: bool | None = None,
                 return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                 return_offsets_mapping: bool = False, return_length: bool = False,
                 verbose: bool = True) -> BatchEncoding:
        """Tokenize one text, a pair, or a batch of texts / pairs for the model.

        ``padding``: False, True / "longest", "max_length". ``truncation``: False, True / "longest_first",
        "only_first", "only_second". ``return_tensors``: None (lists), "np", "pt", "tf" or "jax". A single text
        gives flat lists (``[1, n]`` tensors when ``return_tensors`` is set); a batch gives one row per input.
        With ``is_split_into_words=True`` a text is a list of words (a batch: a list of such lists), and
        ``word_ids()`` of the result index those words.
        """
        options = dict(add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                       max_length=max_length, stride=stride, pad_to_multiple_of=pad_to_multiple_of,
                       padding_side=padding_side, return_tensors=return_tensors,
                       return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
                       return_overflowing_tokens=return_overflowing_tokens,
                       return_special_tokens_mask=return_special_tokens_mask,
                       return_offsets_mapping=return_offsets_mapping, return_length=return_length, verbose=verbose)
        split = is_split_into_words
        check_input("text", text, split, batch_ok=True)
        if text_pair is not None:
            check_input("text_pair", text_pair, split, batch_ok=True)
        batched = is_batch(text, split)
        if batched:
            if text_pair is not None and (not is_batch(text_pair, split) or len(text_pair) != len(text)):
                raise ValueError("With a batch of texts, text_pair must be a batch of the same length "
                                 f"({len(text)}), got {text_pair!r:.80}.")
            pairs = list(zip(text, text_pair)) if text_pair is not None else [(t, None) for t in text]
        else:
            if text_pair is not None and is_batch(text_pair, split):
                raise ValueError("text is a single input, so text_pair must be a single input too (or None).")
            pairs = [(text, self._single_pair(text_pair))]
        return self._encode_inputs(pairs, batched, split, **options)

    def encode_plus(self, text: TextInput | list[int], text_pair: TextInput | list[int] | None = None, *,
                    is_split_into_words: bool = False, **kwargs: Any) -> BatchEncoding:
        """One text (or pair) to model inputs: ``__call__`` on a single input, same options (transformers v4).

        The pure-Python tokenizer also takes a list of tokens or of ids for ``text`` / ``text_pair``.
        """
        for name, value in (("text", text), ("text_pair", text_pair)):
            if value is not None:
                check_input(name, value, is_split_into_words, batch_ok=False, ids_ok=not self.is_fast)
        return self._encode_inputs([(text, self._single_pair(text_pair))], False, is_split_into_words, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs: Sequence[Any], *, is_split_into_words: bool = False,
                          **kwargs: Any) -> BatchEncoding:
        """A batch of texts or ``(text, text_pair)`` tuples to model inputs (``__call__`` on a batch, v4)."""
        if isinstance(batch_text_or_text_pairs, str) or not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise ValueError("batch_encode_plus takes a list of texts or of (text, text_pair) tuples, got "
                             f"{type(batch_text_or_text_pairs).__name__}; use encode_plus for one text.")
        pairs = []
        for item in batch_text_or_text_pairs:
            single = isinstance(item, str) or (is_split_into_words and item and isinstance(item[0], str))
            if not single and isinstance(item, (list, tuple)) and len(item) == 2 and not isinstance(item[0], int):
                pair = (item[0], item[1])
            else:
                pair = (item, None)
            for name, value in zip(("text", "text_pair"), pair):
                if value is not None:
                    check_input(name, value, is_split_into_words, batch_ok=False, ids_ok=not self.is_fast)
            pairs.append(pair)
        return self._encode_inputs(pairs, True, is_split_into_words, **kwargs)

    def _encode_inputs(self, pairs: list[tuple[Any, Any]], batched: bool, is_split_into_words: bool, *,
                       add_special_tokens: bool = True, padding: bool | str = False,
                       truncation: bool | str | None = None, max_length: int | None = None, stride: int = 0,
                       pad_to_multiple_of: int | None = None, padding_side: str | None = None,
                       return_tensors: str | None = None, return_token_type_ids: bool | None = None,
                       return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                       return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                       return_length: bool = False, verbose: bool = True, **unknown: Any) -> BatchEncoding:
        if unknown:
            raise TypeError(f"Unknown tokenizer option(s) {sorted(unknown)}; see help({type(self).__name__}).")
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
            return BatchEncoding({k: [] for k in keys}, [])
        data, encodings, alignments = self._encode_batch(pairs, is_split_into_words=is_split_into_words, **options)
        if verbose and max_length is None:
            self._warn_if_too_long(data["input_ids"])
        if not batched and return_tensors is None:
            data = self._unbatch(data, return_overflowing_tokens)
        return BatchEncoding(data, encodings, tensor_type=return_tensors, alignments=alignments)

    def _single_pair(self, text_pair: Any) -> Any:
        """How a single call treats its ``text_pair`` (the fast tokenizer drops an empty one, as transformers)."""
        return text_pair

    def _unbatch(self, data: dict[str, list], return_overflowing_tokens: bool) -> dict[str, Any]:
        return {key: value[0] for key, value in data.items()}

    def _encode_batch(self, pairs: list[tuple[Any, Any]], **options: Any) -> tuple[dict[str, list], Any, Any]:
        """``(data, encodings, alignments)``: the rows' fields, the fast backend's encodings (or None), the
        pure-Python tokenizer's alignments (or None)."""
        raise NotImplementedError

    def encode(self, text: TextInput | list[int], text_pair: TextInput | list[int] | None = None,
               **kwargs: Any) -> list[int]:
        """The ``input_ids`` of ``encode_plus(text, text_pair, **kwargs)``."""
        return self.encode_plus(text, text_pair, **kwargs)["input_ids"]

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
