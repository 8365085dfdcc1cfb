"""Resolve a ``--model`` argument to a local folder: a folder as given, else a download when possible."""

from __future__ import annotations

import importlib.util
import os


class ModelNotFoundError(FileNotFoundError):
    """The model is neither a local folder nor downloadable here; the message says how to get the files."""


def download_command() -> str:
    """The installed huggingface_hub's download command: ``hf download`` (huggingface_hub >= 0.34), else the
    older ``huggingface-cli download``."""
    import shutil

    if shutil.which("hf") or importlib.util.find_spec("huggingface_hub.cli") is not None:
        return "hf download"
    return "huggingface-cli download"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes") or \
        os.environ.get("BERTZOO_OFFLINE", "0").lower() in ("1", "true", "yes")


def resolve_model(model: str | os.PathLike) -> str:
    """Return a local folder for ``model``.

    A local folder (or TF1 checkpoint prefix) is returned as is. Any other name is treated as a Hugging Face
    Hub repository id and downloaded with ``huggingface_hub`` when it is installed and the network is up;
    otherwise a ModelNotFoundError explains how to get the files.
    """
    path = os.path.expanduser(os.fspath(model))
    if os.path.isdir(path):
        return path
    if os.path.exists(path + ".index"):  # a TF1 checkpoint prefix: its folder holds bert_config.json and vocab.txt
        return os.path.dirname(os.path.abspath(path))
    how = (f"Download it on a machine with network access, e.g. `{download_command()} {path} --local-dir "
           f"./{os.path.basename(path) or 'model'}`, copy the folder here and pass its path as --model.")
    if path.startswith((".", "/", "~")) or path.count("/") > 1:  # a path, not a hub id
        raise ModelNotFoundError(f"{path!r} is not a local folder. {how}")
    if importlib.util.find_spec("huggingface_hub") is None:
        raise ModelNotFoundError(f"{path!r} is not a local folder, and huggingface_hub is not installed to "
                                 f"download it (pip install 'bertzoo[hub]'). {how}")
    if _offline():
        raise ModelNotFoundError(f"{path!r} is not a local folder, and downloads are off (HF_HUB_OFFLINE=1). {how}")
    from huggingface_hub import snapshot_download

    try:
        # config, tokenizer and safetensors weights; another weight format only when there is no safetensors file
        folder = snapshot_download(path, allow_patterns=["*.json", "*.txt", "model*.safetensors*"])
        if not any(name.endswith(".safetensors") for name in os.listdir(folder)):
            folder = snapshot_download(path, allow_patterns=["*.json", "*.txt", "pytorch_model*.bin*",
                                                             "flax_model.msgpack", "tf_model*.h5*"])
        return folder
    except Exception as e:  # network down, repository unknown, ...
        raise ModelNotFoundError(f"Could not download {path!r} ({type(e).__name__}: {e}). {how}") from None
