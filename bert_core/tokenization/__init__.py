"""BERT's tokenizers with transformers v4's API: ``BertTokenizer`` (pure Python) and ``BertTokenizerFast``
(the Rust ``tokenizers`` backend), and ``BatchEncoding``, what a call returns.

Modules, by role: ``base`` (the shared ``__call__`` / ``pad`` / ``decode`` contract), ``special`` (special tokens,
id conversion), ``padding`` (padding and truncation rules), ``saving`` (``from_pretrained`` / ``save_pretrained``),
``files`` (the files of transformers' layout), ``batch`` (``BatchEncoding``), ``bert`` + ``bert_text`` +
``wordpiece`` (the pure-Python tokenizer), ``bert_fast`` + ``backend`` (the fast one).
"""

from bert_core.tokenization.batch import BatchEncoding
from bert_core.tokenization.bert import BertTokenizer
from bert_core.tokenization.bert_fast import BertTokenizerFast
from bert_core.tokenization.files import TokenizerFileError

__all__ = ["BatchEncoding", "BertTokenizer", "BertTokenizerFast", "TokenizerFileError"]
