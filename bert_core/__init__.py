"""bertzoo's framework-free core: configuration, tokenizers, pipelines, outputs and shared rules.

Importing this package imports no deep-learning framework; a pipeline imports only the framework it runs on.
"""

from bert_core.config import BertConfig, ConfigError
from bert_core.heads import HEADS
from bert_core.pipelines import pipeline
from bert_core.tokenization import BatchEncoding, BertTokenizer, BertTokenizerFast

__version__ = "0.1.0"
__all__ = ["BertConfig", "ConfigError", "HEADS", "BatchEncoding", "BertTokenizer", "BertTokenizerFast", "pipeline",
           "__version__"]
