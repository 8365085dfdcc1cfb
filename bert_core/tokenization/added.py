"""Added tokens with transformers v4's API: ``AddedToken``, ``add_tokens``, ``add_special_tokens``,
``added_tokens_decoder`` / ``added_tokens_encoder``, ``get_added_vocab``, and their file records.

``AddedToken`` is the ``tokenizers`` class transformers uses (content, lstrip, rstrip, single_word, normalized,
special). One rule for both tokenizers: an added token is matched whole in the text, longest first; a normalized,
non-special one is matched after lower casing (its content is lower-cased when ``do_lower_case``), the others on
the text as written. A token already in the vocabulary keeps its id; a new one gets the next free id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tokenizers import AddedToken

from bert_core.tokenization.special import SPECIAL_TOKENS_ATTRIBUTES

__all__ = ["AddedToken", "AddedTokensMixin", "as_added_token", "config_tokens", "token_entry", "token_from_entry"]

_ENTRY_KEYS = ("content", "lstrip", "normalized", "rstrip", "single_word", "special")


def token_entry(token: AddedToken) -> dict[str, Any]:
    """The JSON record of one added token, as transformers writes it in tokenizer_config.json."""
    state = token.__getstate__()
    return {key: state[key] for key in _ENTRY_KEYS}


def token_from_entry(entry: Mapping[str, Any] | str | AddedToken, special: bool = True) -> AddedToken:
    """An ``AddedToken`` from a tokenizer_config.json record (a plain string counts as a special token)."""
    if isinstance(entry, AddedToken):
        return entry
    if isinstance(entry, str):
        return AddedToken(entry, special=special, normalized=not special)
    unknown = set(entry) - set(_ENTRY_KEYS) - {"__type", "id"}
    if "content" not in entry or unknown:
        raise ValueError(f"An added token record needs 'content' and only the keys {_ENTRY_KEYS}; got {dict(entry)}.")
    options = {k: entry[k] for k in _ENTRY_KEYS if k in entry and k != "content"}
    return AddedToken(str(entry["content"]), **options)


def config_tokens(added_tokens_decoder: Mapping[Any, Any] | None, specials: list[str]) -> list[tuple[int, AddedToken]]:
    """The ``(id, AddedToken)`` pairs of a tokenizer_config.json ``added_tokens_decoder``, by id; a token that is
    one of ``specials`` is marked special (transformers does the same)."""
    out = []
    for index, entry in sorted((int(i), e) for i, e in (added_tokens_decoder or {}).items()):
        token = token_from_entry(entry)
        if token.content in specials and not token.special:
            token.special = True
        out.append((index, token))
    return out


def as_added_token(token: str | AddedToken, special: bool, do_lower_case: bool) -> AddedToken:
    """The ``AddedToken`` ``add_tokens`` registers for ``token`` (transformers v4's ``_add_tokens`` rules).

    A string becomes special (not normalized) when ``special``, else normalized; ``special`` marks an
    ``AddedToken`` special too. A normalized, non-special token is lower-cased when the tokenizer lower-cases.
    """
    if isinstance(token, str):
        token = AddedToken(token, rstrip=False, lstrip=False, normalized=not special, special=special)
    elif isinstance(token, AddedToken):
        state = token.__getstate__()
        if special:
            state["special"] = True
        token = AddedToken(state.pop("content"), **state)  # a copy: the caller's object stays as it was
    else:
        raise TypeError(f"Added tokens must be str or AddedToken, got {type(token).__name__}: {token!r:.80}.")
    if do_lower_case and token.normalized and not token.special:
        token.content = token.content.lower()
    return token


class AddedTokensMixin:
    """The public added-token API of ``TokenizerBase``; a tokenizer supplies ``_add_tokens(tokens, special)``
    (registering ``AddedToken`` objects, returning how many got a new id) and ``added_tokens_decoder``."""

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        """``{id: AddedToken}`` of every added token (special tokens included), sorted by id."""
        raise NotImplementedError

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        """``{content: id}`` of every added token (special tokens included), sorted by id."""
        return {token.content: index for index, token in self.added_tokens_decoder.items()}

    def get_added_vocab(self) -> dict[str, int]:
        """The added tokens and their ids (``added_tokens_encoder``)."""
        return self.added_tokens_encoder

    def _add_tokens(self, tokens: list[AddedToken], special_tokens: bool) -> int:
        raise NotImplementedError

    def _missing_special_tokens(self, known: Iterable[str]) -> list[AddedToken]:
        """The special tokens not in ``known``, as ``AddedToken`` (with the options they were given)."""
        known = set(known)
        extended = getattr(self, "_special_extended", {})
        return [as_added_token(extended.get(t, t), True, False) for t in self.all_special_tokens if t not in known]

    def add_tokens(self, new_tokens: str | AddedToken | Iterable[str | AddedToken],
                   special_tokens: bool = False) -> int:
        """Add tokens matched whole in the text (longest first); returns how many got a new id.

        Strings become ``AddedToken(token, normalized=not special_tokens, special=special_tokens)``. Tokens
        already in the vocabulary keep their id; resize the model's embeddings to ``len(tokenizer)`` afterwards.
        """
        if not new_tokens:
            return 0
        if isinstance(new_tokens, (str, AddedToken)):
            new_tokens = [new_tokens]
        lower, known = bool(getattr(self, "do_lower_case", False)), self.added_tokens_encoder
        tokens = [as_added_token(t, special_tokens, lower) for t in new_tokens
                  if not (isinstance(t, str) and (t in known or not t))]
        count = self._add_tokens([t for t in tokens if t.content], special_tokens)
        specials = self.all_special_tokens
        extra = [t.content for t in tokens if t.special and t.content not in specials]
        if extra:
            self.additional_special_tokens = self.additional_special_tokens + list(dict.fromkeys(extra))
        return count

    def add_special_tokens(self, special_tokens_dict: Mapping[str, str | AddedToken | list],
                           replace_additional_special_tokens: bool = True) -> int:
        """Set special tokens (``{"pad_token": "<pad>", "additional_special_tokens": [...]}``) and add the ones the
        vocabulary lacks; returns how many got a new id (transformers v4 semantics)."""
        to_add: list[AddedToken] = []
        for key, value in special_tokens_dict.items():
            if key == "additional_special_tokens":
                if isinstance(value, (str, AddedToken)) or not all(isinstance(t, (str, AddedToken)) for t in value):
                    raise ValueError(f"additional_special_tokens must be a list of str or AddedToken, got {value!r}.")
                new = [as_added_token(t, True, False) for t in value]
                if not replace_additional_special_tokens:
                    new = [t for t in new if t.content not in self.additional_special_tokens]
                    self.additional_special_tokens = self.additional_special_tokens + [t.content for t in new]
                elif new:
                    self.additional_special_tokens = [t.content for t in new]
                to_add += new
            elif key in SPECIAL_TOKENS_ATTRIBUTES:
                if not isinstance(value, (str, AddedToken)):
                    raise ValueError(f"{key} must be a str or an AddedToken, got {type(value).__name__}.")
                token = as_added_token(value, True, False)
                setattr(self, key, token.content)
                to_add.append(token)
            else:
                raise ValueError(f"Unknown special token key {key!r}; use one of {SPECIAL_TOKENS_ATTRIBUTES} or "
                                 "'additional_special_tokens' (add_tokens adds ordinary tokens).")
        return self._add_tokens(to_add, True)
