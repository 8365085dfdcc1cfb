"""``TFBertTokenizer``: BERT's WordPiece tokenizer as a Keras layer of TensorFlow (tensorflow-text) ops.

It runs inside the graph (``tf.function``, SavedModel, TF Serving) and gives the ids of ``bert_core.BertTokenizer``
(transformers' slow tokenizer): text cleaning, CJK spacing, NFC, ``do_lower_case``, ``strip_accents``,
``tokenize_chinese_chars``, punctuation split, special tokens matched whole, WordPiece with the 100-character
word limit, ``[CLS] a [SEP] b [SEP]`` with token types 0/1, truncation (``longest_first``, ``only_first``,
``only_second``) and padding (``"longest"`` or ``"max_length"``; token_type_ids padded with 0).
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

_PUNCT = r"[!-/:-@\[-`{-~]|\p{P}"
# Python's str.split() whitespace beyond ASCII (clean-up has already turned Zs and \t\n\r into spaces).
_SPLIT_WS = r"[\t\n\x{0B}\x{0C}\r\x{1C}-\x{1F} \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}" \
            r"\x{205F}\x{3000}]+"
_CJK = (r"([\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}\x{2B740}-\x{2B81F}"
        r"\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}])")
_MAX_WORD_CHARS = 100
TRUNCATION = ("longest_first", "only_first", "only_second")


def _escape(token: str) -> str:
    return "".join("\\" + c if not c.isalnum() else c for c in token)


class TFBertTokenizer(keras.layers.Layer):
    """Strings (and optional pairs) -> ``input_ids``, ``token_type_ids``, ``attention_mask`` (int64), in-graph.

    Args:
        vocab: the WordPiece vocabulary, tokens in id order.
        do_lower_case / strip_accents / tokenize_chinese_chars: as ``bert_core.BertTokenizer``.
        special_tokens: tokens matched whole in the input (``[CLS]``, ``[MASK]``, ...).
        padding: ``"longest"`` or ``"max_length"`` (needs ``max_length``).
        truncation: True / ``"longest_first"``, ``"only_first"``, ``"only_second"``, or False.
        max_length: longest output (special tokens included); None means no truncation.
        add_special_tokens: wrap in ``[CLS] ... [SEP]``.
    """

    def __init__(self, vocab: list[str], do_lower_case: bool = True, strip_accents: bool | None = None,
                 tokenize_chinese_chars: bool = True, cls_token: str = "[CLS]", sep_token: str = "[SEP]",
                 pad_token: str = "[PAD]", unk_token: str = "[UNK]", mask_token: str = "[MASK]",
                 special_tokens: list[str] | None = None, padding: str = "longest",
                 truncation: bool | str = True, max_length: int | None = None, add_special_tokens: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab = list(vocab)
        index = {t: i for i, t in enumerate(self.vocab)}
        for token in (cls_token, sep_token, pad_token, unk_token):
            if token not in index:
                raise ValueError(f"Special token {token!r} is not in the vocabulary.")
        self.do_lower_case, self.strip_accents = do_lower_case, strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.cls_id, self.sep_id, self.pad_id = index[cls_token], index[sep_token], index[pad_token]
        self.tokens = dict(cls_token=cls_token, sep_token=sep_token, pad_token=pad_token, unk_token=unk_token,
                           mask_token=mask_token)
        specials = special_tokens if special_tokens is not None else [cls_token, sep_token, pad_token, unk_token,
                                                                      mask_token]
        self.special_tokens = [t for t in specials if t in index]
        self._special_pattern = "|".join(_escape(t) for t in sorted(self.special_tokens, key=len, reverse=True))
        self.padding, self.truncation, self.max_length = padding, truncation, max_length
        self.add_special_tokens = add_special_tokens
        self._check_options(padding, truncation, max_length)
        init = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.vocab), tf.range(len(self.vocab), dtype=tf.int64))
        self.table = tf.lookup.StaticHashTable(init, default_value=-1)
        self.wordpiece = tf_text.WordpieceTokenizer(
            self.table, suffix_indicator="##", max_bytes_per_word=4 * _MAX_WORD_CHARS, token_out_type=tf.int64,
            unknown_token=unk_token)
        self.built = True

    # -- construction ----------------------------------------------------------------------------------------
    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs) -> "TFBertTokenizer":
        """From a ``bert_core.BertTokenizer`` (its vocabulary, casing options and special tokens)."""
        vocab = sorted(tokenizer.vocab.items(), key=lambda kv: kv[1])
        if [i for _, i in vocab] != list(range(len(vocab))):
            raise ValueError("The tokenizer's vocabulary ids are not 0..N-1 without gaps.")
        specials = [t for t in tokenizer.added_tokens_encoder if t in tokenizer.vocab]
        options = dict(do_lower_case=tokenizer.do_lower_case, strip_accents=tokenizer.strip_accents,
                       tokenize_chinese_chars=tokenizer.tokenize_chinese_chars, special_tokens=specials,
                       cls_token=str(tokenizer.cls_token), sep_token=str(tokenizer.sep_token),
                       pad_token=str(tokenizer.pad_token), unk_token=str(tokenizer.unk_token),
                       mask_token=str(tokenizer.mask_token))
        options.update(kwargs)
        return cls([t for t, _ in vocab], **options)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, **kwargs) -> "TFBertTokenizer":
        """From a tokenizer folder (vocab.txt + tokenizer_config.json), read by ``bert_core.BertTokenizer``."""
        from bert_core.tokenization.bert import BertTokenizer

        return cls.from_tokenizer(BertTokenizer.from_pretrained(os.fspath(folder)), **kwargs)

    def get_config(self) -> dict:
        return dict(super().get_config(), vocab=self.vocab, do_lower_case=self.do_lower_case,
                    strip_accents=self.strip_accents, tokenize_chinese_chars=self.tokenize_chinese_chars,
                    special_tokens=self.special_tokens, padding=self.padding, truncation=self.truncation,
                    max_length=self.max_length, add_special_tokens=self.add_special_tokens, **self.tokens)

    def __repr__(self) -> str:
        return (f"TFBertTokenizer(vocab_size={len(self.vocab)}, do_lower_case={self.do_lower_case}, "
                f"strip_accents={self.strip_accents}, padding={self.padding!r}, max_length={self.max_length})")

    @staticmethod
    def _check_options(padding, truncation, max_length) -> None:
        if padding not in ("longest", "max_length"):
            raise ValueError(f"padding must be 'longest' or 'max_length', got {padding!r}.")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length.")
        if truncation not in (True, False, None, *TRUNCATION):
            raise ValueError(f"truncation must be True, False or one of {', '.join(TRUNCATION)}; got "
                             f"{truncation!r}.")

    # -- text -> word pieces ---------------------------------------------------------------------------------
    def _normalize(self, text: tf.Tensor) -> tf.Tensor:
        text = tf.strings.regex_replace(text, r"[\t\n\r]", " ")
        text = tf.strings.regex_replace(text, r"[\p{C}\x{FFFD}]", "")
        text = tf.strings.regex_replace(text, r"\p{Zs}", " ")
        if self.tokenize_chinese_chars:
            text = tf.strings.regex_replace(text, _CJK, r" \1 ")
        text = tf_text.normalize_utf8(text, "NFC")
        if self.do_lower_case:
            text = tf.strings.lower(text, encoding="utf-8")
        if (self.do_lower_case and self.strip_accents is not False) or self.strip_accents:
            text = tf.strings.regex_replace(tf_text.normalize_utf8(text, "NFD"), r"\p{Mn}", "")
        return text

    def _words(self, pieces: tf.Tensor) -> tf.RaggedTensor:
        """1-D pieces of text -> [pieces, (words)] after cleaning, casing and punctuation split."""
        text = self._normalize(pieces)
        words = tf_text.regex_split(text, f"{_SPLIT_WS}|{_PUNCT}", f"{_PUNCT}")
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > _MAX_WORD_CHARS
        flat = tf.where(too_long, tf.constant(self.tokens["unk_token"]), words.flat_values)
        return words.with_flat_values(flat)

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """[batch] strings -> [batch, (ids)] WordPiece ids, without special tokens."""
        texts = tf.strings.regex_replace(tf.convert_to_tensor(texts), r"\x00", "")  # regex_split stops at NUL
        if self._special_pattern:
            pieces = tf_text.regex_split(texts, self._special_pattern, self._special_pattern)
        else:
            pieces = tf.RaggedTensor.from_tensor(texts[:, None])
        flat = pieces.flat_values
        ids = self.wordpiece.tokenize(self._words(flat)).merge_dims(1, 2)  # [pieces, (ids)]
        is_special = tf.strings.regex_full_match(flat, self._special_pattern) if self._special_pattern \
            else tf.zeros_like(flat, tf.bool)
        keep = tf.ragged.map_flat_values(lambda v: tf.zeros_like(v, tf.bool), ids) | ~is_special[:, None]
        normal = tf.ragged.boolean_mask(ids, keep)
        special = tf.ragged.boolean_mask(self.table.lookup(flat)[:, None], is_special[:, None])
        per_piece = tf.concat([normal, special], axis=1)
        return pieces.with_flat_values(per_piece).merge_dims(1, 2)

    # -- truncation, special tokens, padding -----------------------------------------------------------------
    @staticmethod
    def _keep_first(rt: tf.RaggedTensor, keep: tf.Tensor) -> tf.RaggedTensor:
        keep = tf.maximum(keep, 0)
        positions = tf.ragged.range(rt.row_lengths())
        return tf.ragged.boolean_mask(rt, positions < tf.cast(keep, positions.dtype)[:, None])

    def _truncate(self, a, b, budget, strategy):
        la = a.row_lengths()
        if b is None:
            return self._keep_first(a, tf.minimum(la, budget)), None
        lb = b.row_lengths()
        remove = tf.maximum(la + lb - budget, 0)
        if strategy == "only_first":
            ok = la > remove
            return self._keep_first(a, tf.where(ok, la - remove, la)), b
        if strategy == "only_second":
            ok = lb > remove
            return a, self._keep_first(b, tf.where(ok, lb - remove, lb))
        first = tf.minimum(tf.abs(la - lb), remove)
        second = remove - first
        a_longer = la > lb
        a_remove = tf.where(a_longer, first + second // 2, second // 2)
        b_remove = tf.where(a_longer, second - second // 2, first + second - second // 2)
        return self._keep_first(a, la - a_remove), self._keep_first(b, lb - b_remove)

    def call(self, text, text_pair=None, padding: str | None = None, truncation=None,
             max_length: int | None = None, add_special_tokens: bool | None = None) -> dict[str, tf.Tensor]:
        padding = self.padding if padding is None else padding
        truncation = self.truncation if truncation is None else truncation
        max_length = self.max_length if max_length is None else max_length
        add_special = self.add_special_tokens if add_special_tokens is None else add_special_tokens
        self._check_options(padding, truncation, max_length)
        text = tf.convert_to_tensor(text)
        scalar = text.shape.rank == 0
        if scalar:
            text = text[None]
            text_pair = None if text_pair is None else tf.convert_to_tensor(text_pair)[None]
        a = self.tokenize(text)
        b = None if text_pair is None else self.tokenize(text_pair)
        if truncation and max_length is not None:
            specials = (3 if b is not None else 2) if add_special else 0
            strategy = "longest_first" if truncation is True else truncation
            a, b = self._truncate(a, b, tf.cast(max_length - specials, tf.int64), strategy)
        if add_special:
            batch = tf.shape(text, out_type=tf.int64)[:1]
            cls_ = tf.fill(tf.concat([batch, [1]], 0), tf.constant(self.cls_id, tf.int64))
            sep = tf.fill(tf.concat([batch, [1]], 0), tf.constant(self.sep_id, tf.int64))
            first = tf.concat([cls_, a, sep], axis=1)
            second = None if b is None else tf.concat([b, sep], axis=1)
        else:
            first, second = a, b
        types = tf.zeros_like(first)
        if second is not None:
            types = tf.concat([types, tf.ones_like(second)], axis=1)
            first = tf.concat([first, second], axis=1)
        length = max_length if padding == "max_length" else None
        shape = None if length is None else [None, length]
        input_ids = first.to_tensor(default_value=self.pad_id, shape=shape)
        out = {"input_ids": input_ids,
               "token_type_ids": types.to_tensor(default_value=0, shape=shape),
               "attention_mask": tf.ones_like(first).to_tensor(default_value=0, shape=shape)}
        return {k: v[0] for k, v in out.items()} if scalar else out
