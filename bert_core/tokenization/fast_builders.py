"""Building new ``BertTokenizerFast`` objects: from a pure-Python ``BertTokenizer`` (transformers'
``convert_slow_tokenizer``) and by training a new WordPiece vocabulary on text (``train_new_from_iterator``).

Both keep the options, special tokens and added tokens of the source tokenizer, as transformers v4 does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tokenizers import Tokenizer
from tokenizers.trainers import WordPieceTrainer

from bert_core.tokenization.added import AddedToken
from bert_core.tokenization.special import SPECIAL_TOKENS_ATTRIBUTES

__all__ = ["FastBuildersMixin"]


def _rebuild_kwargs(tokenizer, mapping: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The options of ``tokenizer`` for a new tokenizer, special tokens renamed through ``mapping``."""
    kwargs = tokenizer.init_kwargs
    kwargs.pop("added_tokens_decoder", None)
    mapping = mapping or {}
    for name in SPECIAL_TOKENS_ATTRIBUTES:
        value = getattr(tokenizer, name)
        kwargs[name] = None if value is None else mapping.get(value, value)
    kwargs["additional_special_tokens"] = [mapping.get(t, t) for t in tokenizer.additional_special_tokens]
    return kwargs


class FastBuildersMixin:
    """``from_slow`` and ``train_new_from_iterator`` of ``BertTokenizerFast``."""

    @classmethod
    def from_slow(cls, slow_tokenizer: Any, **kwargs: Any):
        """The fast twin of a pure-Python ``BertTokenizer``: same vocabulary, options, special and added tokens
        (and so the same ids on every input); ``kwargs`` override options."""
        options = _rebuild_kwargs(slow_tokenizer)
        options["added_tokens_decoder"] = slow_tokenizer.init_kwargs["added_tokens_decoder"]
        options["name_or_path"] = slow_tokenizer.name_or_path
        options.update(kwargs)
        return cls(vocab=slow_tokenizer.vocab, **options)

    def train_new_from_iterator(self, text_iterator: Iterable[str] | Iterable[list[str]], vocab_size: int,
                                length: int | None = None, new_special_tokens: list[str | AddedToken] | None = None,
                                special_tokens_map: Mapping[str, str] | None = None, **kwargs: Any):
        """A new tokenizer with this one's pipeline (normalizer, pre-tokenizer, [CLS]/[SEP] template, options) and
        a WordPiece vocabulary of at most ``vocab_size`` tokens learnt from ``text_iterator`` (texts or batches
        of texts). Special tokens come first in the new vocabulary; ``special_tokens_map`` renames them,
        ``new_special_tokens`` adds more; ``kwargs`` go to ``tokenizers.trainers.WordPieceTrainer``.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= 0:
            raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}.")
        mapping = dict(special_tokens_map or {})
        state = json.loads(self.backend_tokenizer.to_str())
        added, post = state.pop("added_tokens"), state.pop("post_processor")
        state["added_tokens"] = []
        if state["model"]["type"] != "WordPiece":
            raise ValueError(f"train_new_from_iterator trains WordPiece models; this one is {state['model']['type']}.")
        state["model"]["vocab"] = {}
        state["model"]["unk_token"] = mapping.get(state["model"]["unk_token"], state["model"]["unk_token"])
        backend = Tokenizer.from_str(json.dumps(state))
        specials = [AddedToken(mapping.get(e["content"], e["content"]), single_word=e["single_word"],
                               lstrip=e["lstrip"], rstrip=e["rstrip"], normalized=e["normalized"], special=True)
                    for e in added if e["special"]]
        specials += [AddedToken(t, special=True, normalized=False) if isinstance(t, str) else t
                     for t in new_special_tokens or []]
        trainer = WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials,
                                   continuing_subword_prefix=state["model"]["continuing_subword_prefix"], **kwargs)
        backend.train_from_iterator(_texts(text_iterator), trainer=trainer, length=length)
        if post is not None:
            for entry in (post.get("special_tokens") or {}).values():
                entry["tokens"] = [mapping.get(t, t) for t in entry["tokens"]]
                entry["ids"] = [backend.token_to_id(t) for t in entry["tokens"]]
                if None in entry["ids"]:
                    raise ValueError(f"The post-processor's special tokens {entry['tokens']} are not all in the "
                                     "trained vocabulary; pass them in new_special_tokens.")
            trained = json.loads(backend.to_str())
            trained["post_processor"] = post
            backend = Tokenizer.from_str(json.dumps(trained))
        options = _rebuild_kwargs(self, mapping)
        options["additional_special_tokens"] += [str(t) for t in new_special_tokens or []]
        new = type(self)(tokenizer_object=backend, **options)
        new.add_tokens([AddedToken(e["content"], single_word=e["single_word"], lstrip=e["lstrip"], rstrip=e["rstrip"],
                                   normalized=e["normalized"]) for e in added if not e["special"]])
        return new


def _texts(iterator: Iterable[Any]) -> Iterator[str]:
    """Texts one at a time from an iterator of texts or of batches (lists) of texts."""
    for item in iterator:
        if isinstance(item, str):
            yield item
        else:
            yield from item
