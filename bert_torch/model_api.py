"""transformers v4's model-class API on top of `BertPreTrainedModel`: class attributes, ``can_generate``,
``_from_config``, output-embedding access, TorchScript mode and vocabulary resizing with v4's mean resizing.

TorchScript mode (``config.torchscript = True``, or ``BertConfig(torchscript=True)``) makes ``forward`` return
tuples by default and clones the tied MLM decoder weight instead of sharing it, as transformers does, so
``torch.jit.trace`` / ``torch.jit.save`` work.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.distributions import constraints
from torch.utils import _pytree

from bert_core import outputs as O

_EPSILON = 1e-9  # transformers' scale of the covariance of added rows


def _register_outputs() -> None:
    """Make every output dataclass a pytree node (as transformers does) so ``torch.export`` and
    ``torch.compile`` can return them."""
    for value in vars(O).values():
        if isinstance(value, type) and issubclass(value, O.ModelOutput) and value is not O.ModelOutput:
            if value not in _pytree.SUPPORTED_NODES:  # once per process
                torch.export.register_dataclass(value, serialized_type_name=f"bert_core.outputs.{value.__name__}")


_register_outputs()


def torchscript_enabled(config) -> bool:
    """``config.torchscript``, whether set as an attribute or read from a config.json key."""
    return bool(getattr(config, "torchscript", None) or getattr(config, "extra", {}).get("torchscript", False))


def _mean_rows(old: torch.Tensor, added: int) -> torch.Tensor:
    """``added`` rows drawn from N(mean, 1e-9 * covariance) of ``old``'s rows (the mean itself when that
    covariance is not positive definite), as transformers' ``_init_added_embeddings_weights_with_mean``."""
    w = old.detach().float()
    mean = w.mean(0)
    centered = w - mean
    cov = _EPSILON * (centered.T @ centered) / w.shape[0]
    if bool(constraints.positive_definite.check(cov).all()):
        rows = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov).sample((added,))
    else:
        rows = mean[None, :].repeat(added, 1)
    return rows.to(old.dtype)


def _resized_rows(old: torch.Tensor, n: int, mean_resizing: bool, std: float) -> torch.Tensor:
    """``old`` ``[rows, dim]`` cut or grown to ``n`` rows: kept rows copied, new rows mean-resized or N(0, std)."""
    new = torch.empty(n, *old.shape[1:], device=old.device, dtype=old.dtype)
    keep = min(n, old.shape[0])
    if n > old.shape[0]:
        if mean_resizing:
            new[keep:] = _mean_rows(old, n - keep)
        else:
            new[keep:].normal_(0.0, std)
    new[:keep] = old[:keep]
    return new


def _resized_bias(old: torch.Tensor, n: int, mean_resizing: bool) -> torch.Tensor:
    """An untied decoder's bias grown like transformers: N(mean, 1e-9 * std) entries (zeros without mean
    resizing)."""
    new = torch.zeros(n, device=old.device, dtype=old.dtype)
    keep = min(n, old.shape[0])
    if n > keep and mean_resizing:
        data = old.detach().float()
        std = float(data.std()) if data.numel() > 1 else 0.0
        new[keep:] = torch.normal(float(data.mean()), _EPSILON * std, (n - keep,)).to(new)
    new[:keep] = old[:keep]
    return new


class ModelApiMixin:
    """Mixed into every model class before `BertPreTrainedModel` (see the module docstring).

    Class attributes as transformers v4 declares them: ``main_input_name``, ``supports_gradient_checkpointing``,
    ``_keys_to_ignore_on_load_missing`` / ``_keys_to_ignore_on_load_unexpected`` (the regex lists of v4.30, the
    last release that set them on BERT), ``_tied_weights_keys`` (v4.31+).
    """

    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _keys_to_ignore_on_load_missing: list[str] | None = [r"position_ids"]
    _keys_to_ignore_on_load_unexpected: list[str] | None = None
    _keys_to_ignore_on_save: list[str] | None = None
    _tied_weights_keys: list[str] | None = None

    @classmethod
    def can_generate(cls) -> bool:
        """True for the classes that have ``generate`` (``BertLMHeadModel``)."""
        return callable(getattr(cls, "generate", None))

    @classmethod
    def _from_config(cls, config, **kwargs: Any):
        """Build a freshly initialised model from ``config`` (copied); ``torch_dtype`` / ``dtype`` cast it,
        ``attn_implementation`` overrides the config's, other kwargs go to the constructor."""
        dtype = kwargs.pop("torch_dtype", None) or kwargs.pop("dtype", None)
        attn = kwargs.pop("attn_implementation", None)
        config = copy.deepcopy(config)  # as transformers: attributes set on the instance (torchscript) survive
        if attn is not None:
            config.attn_implementation = attn
            config.validate()
        return cls(config, torch_dtype=dtype, **kwargs)

    def _use_return_dict(self, return_dict: bool | None) -> bool:
        """transformers' ``config.use_return_dict``: an explicit value wins; TorchScript mode defaults to tuples."""
        if return_dict is not None:
            return return_dict
        return bool(self.config.return_dict) and not torchscript_enabled(self.config)

    # -- embeddings -----------------------------------------------------------------------------------------
    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        """Replace the MLM decoder (``cls.predictions.decoder``); its bias becomes ``cls.predictions.bias``
        (a zero bias is added to a decoder built without one)."""
        predictions = getattr(getattr(self, "cls", None), "predictions", None)
        if predictions is None:
            raise AttributeError(f"{type(self).__name__} has no output embeddings (no MLM decoder) to set.")
        if new_embeddings.bias is None:
            new_embeddings.bias = nn.Parameter(torch.zeros(new_embeddings.out_features,
                                                           device=new_embeddings.weight.device,
                                                           dtype=new_embeddings.weight.dtype))
        predictions.decoder = new_embeddings
        predictions.bias = new_embeddings.bias

    def tie_weights(self) -> None:
        """Share the MLM decoder weight with the word embeddings when ``tie_word_embeddings`` (in TorchScript
        mode: copy it, as transformers does), and keep ``decoder.bias`` the Parameter ``predictions.bias``."""
        out = self.get_output_embeddings()
        if out is None:
            return
        if self.config.tie_word_embeddings:
            weight = self.get_input_embeddings().weight
            out.weight = nn.Parameter(weight.detach().clone()) if torchscript_enabled(self.config) else weight
        self.cls.predictions._tie_weights()
        out.out_features = out.weight.shape[0]

    @torch.no_grad()
    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Grow or shrink the vocabulary to ``new_num_tokens`` (rounded up to ``pad_to_multiple_of``).

        Old rows are kept. With ``mean_resizing`` (transformers' default) added rows are drawn from a normal
        distribution with the old rows' mean and 1e-9 times their covariance; otherwise N(0, initializer_range).
        The MLM decoder follows: tied, it shares the new table and its bias is zero-padded; untied, its weight
        and bias are resized the same way. Updates ``config.vocab_size``. Returns the input embedding.
        """
        old = self.get_input_embeddings()
        if pad_to_multiple_of is not None:
            if isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int) \
                    or pad_to_multiple_of <= 0:
                raise ValueError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}.")
            n = old.num_embeddings if new_num_tokens is None else new_num_tokens
            new_num_tokens = -(-int(n) // pad_to_multiple_of) * pad_to_multiple_of
        if new_num_tokens is None:
            return old
        if isinstance(new_num_tokens, bool) or not isinstance(new_num_tokens, int) or new_num_tokens <= 0:
            raise ValueError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}.")
        n, std = new_num_tokens, self.config.initializer_range
        if n != old.num_embeddings:
            pad = old.padding_idx if old.padding_idx is not None and old.padding_idx < n else None
            new = nn.Embedding(n, old.embedding_dim, padding_idx=pad, device=old.weight.device, dtype=old.weight.dtype)
            new.weight.copy_(_resized_rows(old.weight, n, mean_resizing, std))
            new.weight.requires_grad_(old.weight.requires_grad)
            self.set_input_embeddings(new)
            decoder = self.get_output_embeddings()
            if decoder is not None:
                predictions = self.cls.predictions
                if self.config.tie_word_embeddings:
                    bias = _resized_bias(predictions.bias, n, mean_resizing=False)
                    predictions.bias = nn.Parameter(bias, requires_grad=predictions.bias.requires_grad)
                else:
                    lm = nn.Linear(decoder.in_features, n, device=decoder.weight.device, dtype=decoder.weight.dtype)
                    lm.weight.copy_(_resized_rows(decoder.weight, n, mean_resizing, std))
                    lm.bias.copy_(_resized_bias(predictions.bias, n, mean_resizing))
                    lm.requires_grad_(decoder.weight.requires_grad)
                    self.set_output_embeddings(lm)
        self.config.vocab_size = n
        self.vocab_size = n
        self.tie_weights()
        return self.get_input_embeddings()
