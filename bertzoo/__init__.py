"""bertzoo's applications: pipelines, the ``bertzoo`` command line, the demo, verify and inspect.

This is the top layer: ``bert_core`` <- ``conversion`` <- ``bert_torch`` | ``bert_tf`` | ``bert_flax`` <- ``bertzoo``.
It reaches the frameworks only through their adapters (``bertzoo.adapters.get_adapter("pt" | "tf" | "flax")``), so
``pipeline("fill-mask", model=FOLDER, framework="flax")`` imports JAX and no other framework.
"""

from bert_core import __version__
from bertzoo.pipelines import pipeline

__all__ = ["pipeline", "__version__"]
