"""BERT's tokenizers with transformers v4's API: ``BertTokenizer`` (pure Python) and ``BertTokenizerFast``
(the Rust ``tokenizers`` backend), and ``BatchEncoding``, what a call returns.

Modules, by role: ``base`` (the shared ``__call__`` / ``encode_plus`` / ``decode`` contract), ``inputs`` (what a
call accepts), ``preparing`` (``prepare_for_model``, ``pad``), ``padding`` (padding and truncation rules),
``special`` (special tokens, id conversion), ``added`` (``AddedToken``, ``add_tokens``, ``add_special_tokens``),
``saving`` (``from_pretrained`` / ``save_pretrained``), ``files`` (the files of transformers' layout), ``batch``
(``BatchEncoding``) and ``alignment`` (its word / character alignment), ``bert`` + ``bert_text`` +
``bert_offsets`` + ``wordpiece`` (the pure-Python tokenizer), ``bert_fast`` + ``backend`` + ``fast_builders``
(the fast one, slow -> fast conversion, training).
"""

from bert_core.tokenization.added import AddedToken
from bert_core.tokenization.alignment import CharSpan, TokenSpan
from bert_core.tokenization.batch import BatchEncoding
from bert_core.tokenization.bert import BertTokenizer
from bert_core.tokenization.bert_fast import BertTokenizerFast
from bert_core.tokenization.files import TokenizerFileError

__all__ = ["AddedToken", "BatchEncoding", "BertTokenizer", "BertTokenizerFast", "CharSpan", "TokenSpan",
           "TokenizerFileError"]
