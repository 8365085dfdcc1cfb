"""The framework adapters by name: a table of module paths, nothing imported until asked for.

``get_adapter("flax")`` imports ``bert_flax.adapter`` (and so JAX) and nothing else. Names follow transformers'
``framework=`` argument (``"pt"``, ``"tf"``, ``"flax"``); ``"torch"`` and ``"jax"`` are accepted too.
"""

from __future__ import annotations

import importlib
import importlib.util

from bert_core.adapter import FrameworkAdapter

ADAPTER_MODULES: dict[str, str] = {"pt": "bert_torch.adapter", "tf": "bert_tf.adapter", "flax": "bert_flax.adapter"}
FRAMEWORKS: tuple[str, ...] = tuple(ADAPTER_MODULES)
ALIASES = {"torch": "pt", "pytorch": "pt", "tensorflow": "tf", "jax": "flax"}
REQUIRES: dict[str, tuple[str, ...]] = {"pt": ("torch",), "tf": ("tensorflow", "keras"), "flax": ("jax", "flax")}
EXTRAS = {"pt": "torch", "tf": "tf", "flax": "flax"}


def canonical(framework: str) -> str:
    """``"torch"`` -> ``"pt"``; an unknown name is a ValueError listing the choices."""
    name = ALIASES.get(framework, framework)
    if name not in ADAPTER_MODULES:
        raise ValueError(f"Unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}.")
    return name


def missing_packages(framework: str) -> list[str]:
    """The packages ``framework`` needs that are not installed (empty when it can run)."""
    return [p for p in REQUIRES[canonical(framework)] if importlib.util.find_spec(p) is None]


def installed_frameworks() -> list[str]:
    """The frameworks whose packages are installed, in transformers' preference order (pt, tf, flax)."""
    return [fw for fw in FRAMEWORKS if not missing_packages(fw)]


def default_framework() -> str:
    """transformers' rule without ``framework=``: PyTorch if installed, else TensorFlow, else Flax."""
    found = installed_frameworks()
    if not found:
        raise ImportError("No framework is installed: pip install 'bertzoo[torch]' (or [tf], [flax]).")
    return found[0]


def get_adapter(framework: str) -> FrameworkAdapter:
    """The adapter of ``framework``; a clear ImportError naming the extra to install when it is missing."""
    name = canonical(framework)
    absent = missing_packages(name)
    if absent:
        raise ImportError(f"framework {name!r} needs {', '.join(absent)}: pip install 'bertzoo[{EXTRAS[name]}]'")
    return importlib.import_module(ADAPTER_MODULES[name]).ADAPTER
