"""bertzoo's framework-free core: configuration, tokenizers, outputs, head table and shared rules.

Importing this package imports no deep-learning framework. Pipelines and the command line live one layer up, in
the ``bertzoo`` package (``from bertzoo import pipeline``).
"""

from typing import Any

from bert_core.config import BertConfig, ConfigError
from bert_core.heads import HEADS
from bert_core.tokenization import BatchEncoding, BertTokenizer, BertTokenizerFast

__version__ = "0.1.0"
__all__ = ["BertConfig", "ConfigError", "HEADS", "BatchEncoding", "BertTokenizer", "BertTokenizerFast",
           "__version__"]


def __getattr__(name: str) -> Any:
    """``bert_core.pipeline``: deprecated alias of ``bertzoo.pipeline`` (moved in 0.2, removed in 0.3).

    Resolved through the ``bert_core.compat`` entry point that the bertzoo distribution declares, so this package
    never imports the application layer above it.
    """
    if name != "pipeline":
        raise AttributeError(f"module 'bert_core' has no attribute {name!r}")
    import warnings
    from importlib.metadata import entry_points

    warnings.warn("bert_core.pipeline moved to bertzoo.pipeline (`from bertzoo import pipeline`); the alias is "
                  "removed in bertzoo 0.3.", FutureWarning, stacklevel=2)
    found = entry_points(group="bert_core.compat", name="pipeline")
    if not found:
        raise ImportError("bert_core.pipeline moved to bertzoo.pipeline; install the bertzoo distribution.")
    return next(iter(found)).load()
