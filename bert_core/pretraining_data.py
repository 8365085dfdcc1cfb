"""BERT pre-training data (MLM + NSP) from text files; the implementation lives in ``bert_core.data``.

See ``bert_core.data`` for the input format, the algorithm and the streaming guarantees.
"""

from bert_core.data import *  # noqa: F401,F403
from bert_core.data import __all__  # noqa: F401
