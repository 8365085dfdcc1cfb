"""bertzoo's framework-free core: configuration, tokenizers, outputs and shared rules.

Importing this package imports no deep-learning framework.
"""

from bert_core.config import BertConfig, ConfigError
from bert_core.heads import HEADS

__version__ = "0.1.0"
__all__ = ["BertConfig", "ConfigError", "HEADS", "__version__"]

from bert_core.tokenization_batch import BatchEncoding
from bert_core.tokenization_bert import BertTokenizer
from bert_core.tokenization_bert_fast import BertTokenizerFast

__all__ += ["BatchEncoding", "BertTokenizer", "BertTokenizerFast"]
