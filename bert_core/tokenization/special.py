"""Special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) and token / id conversion, shared by both BERT tokenizers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SPECIAL_TOKENS_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                             "mask_token")


def _id_property(attribute: str) -> property:
    """``<attribute>_id``: the id of the special token; setting an id (or None) sets the token (transformers v4)."""
    def get(self) -> int | None:
        return self._special_id(getattr(self, attribute))

    def set(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not hasattr(value, "__index__")):
            raise ValueError(f"{attribute}_id must be an int or None, got {value!r}.")
        setattr(self, attribute, None if value is None else self.convert_ids_to_tokens(int(value)))

    return property(get, set, doc=f"Id of ``{attribute}``; setting an id sets ``{attribute}`` to its token.")


class SpecialTokensMixin:
    """Special-token attributes and ids, token / id conversion and BERT's ``[CLS] A [SEP] B [SEP]`` layout.

    Expects the attributes ``unk_token`` ... ``eos_token`` and ``additional_special_tokens`` (set by
    ``TokenizerBase``) and the hooks ``_convert_token_to_id`` / ``_convert_id_to_token``.
    """

    unk_token: str | None
    sep_token: str | None
    pad_token: str | None
    cls_token: str | None
    mask_token: str | None
    bos_token: str | None
    eos_token: str | None
    additional_special_tokens: list[str]

    # ---- vocabulary hooks supplied by the concrete tokenizer -------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (without added tokens)."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def get_vocab(self) -> dict[str, int]:
        raise NotImplementedError

    def _convert_token_to_id(self, token: str) -> int | None:
        raise NotImplementedError

    def _convert_id_to_token(self, index: int) -> str | None:
        raise NotImplementedError

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many special tokens ``__call__`` adds: 2 for one sequence ([CLS] A [SEP]), 3 for a pair."""
        return 3 if pair else 2

    @property
    def max_len_single_sentence(self) -> int:
        """The longest single sequence that fits ``model_max_length`` with its special tokens."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        """The longest pair (both sequences together) that fits ``model_max_length`` with its special tokens."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    # ---- special tokens --------------------------------------------------------------------------------------
    @property
    def special_tokens_map(self) -> dict[str, Any]:
        """``{"unk_token": "[UNK]", ...}`` for the special tokens that are set."""
        out: dict[str, Any] = {a: getattr(self, a) for a in SPECIAL_TOKENS_ATTRIBUTES if getattr(self, a)}
        if self.additional_special_tokens:
            out["additional_special_tokens"] = list(self.additional_special_tokens)
        return out

    @property
    def all_special_tokens(self) -> list[str]:
        """The special tokens, each once, in transformers' order (bos, eos, unk, sep, pad, cls, mask, extra)."""
        seen: list[str] = []
        for value in self.special_tokens_map.values():
            for token in value if isinstance(value, list) else [value]:
                if token not in seen:
                    seen.append(token)
        return seen

    @property
    def all_special_ids(self) -> list[int]:
        return [self.convert_tokens_to_ids(t) for t in self.all_special_tokens]

    def _special_id(self, token: str | None) -> int | None:
        return None if token is None else self.convert_tokens_to_ids(token)

    unk_token_id = _id_property("unk_token")
    sep_token_id = _id_property("sep_token")
    pad_token_id = _id_property("pad_token")
    cls_token_id = _id_property("cls_token")
    mask_token_id = _id_property("mask_token")
    bos_token_id = _id_property("bos_token")
    eos_token_id = _id_property("eos_token")

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        """Ids of ``additional_special_tokens``; setting ids sets the tokens."""
        return [self.convert_tokens_to_ids(t) for t in self.additional_special_tokens]

    @additional_special_tokens_ids.setter
    def additional_special_tokens_ids(self, values: Sequence[int]) -> None:
        self.additional_special_tokens = [self.convert_ids_to_tokens(int(v)) for v in values]

    # ---- token / id conversion -------------------------------------------------------------------------------
    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Id of a token (``unk_token_id`` if unknown), or the list of ids of a list of tokens."""
        if isinstance(tokens, str):
            index = self._convert_token_to_id(tokens)
            return self._convert_token_to_id(self.unk_token) if index is None else index
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        """Token of an id, or the tokens of a list of ids (special ones left out if ``skip_special_tokens``)."""
        if isinstance(ids, int) or hasattr(ids, "__index__"):
            return self._convert_id_to_token(int(ids))
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._convert_id_to_token(int(i)) for i in ids if int(i) not in skip]

    # ---- sequences with special tokens -----------------------------------------------------------------------
    def build_inputs_with_special_tokens(self, token_ids_0: list[int],
                                         token_ids_1: list[int] | None = None) -> list[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        return cls + token_ids_0 + sep if token_ids_1 is None else cls + token_ids_0 + sep + token_ids_1 + sep

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int],
                                             token_ids_1: list[int] | None = None) -> list[int]:
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        first = [0] * (len(token_ids_0) + 2)
        return first if token_ids_1 is None else first + [1] * (len(token_ids_1) + 1)

    def get_special_tokens_mask(self, token_ids_0: list[int], token_ids_1: list[int] | None = None,
                                already_has_special_tokens: bool = False) -> list[int]:
        """1 where ``build_inputs_with_special_tokens`` puts a special token, 0 elsewhere.

        With ``already_has_special_tokens=True``, ``token_ids_0`` is a full sequence and each special id gets 1.
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("Do not pass token_ids_1 when token_ids_0 already holds the special tokens.")
            special = set(self.all_special_ids)
            return [1 if i in special else 0 for i in token_ids_0]
        first = [1] + [0] * len(token_ids_0) + [1]
        return first if token_ids_1 is None else first + [0] * len(token_ids_1) + [1]
