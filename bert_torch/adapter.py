"""bert_torch's side of the cross-framework contract (``bert_core.adapter.FrameworkAdapter``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from bert_core.adapter import Batch, LoadedModel, dtype_name, outputs_to_numpy, run_padded
from bert_core.heads import framework_class_name


def resolve_device(device: Any = None) -> torch.device:
    """transformers v4's ``device=`` convention: None (first GPU, else CPU), -1 (CPU), an index, a string or a
    ``torch.device``. A requested accelerator that is absent is an error, never a silent fallback."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int) and not isinstance(device, bool):
        device = "cpu" if device < 0 else f"cuda:{device}"
    try:
        dev = torch.device("cuda" if device in ("gpu", "GPU") else device)
    except RuntimeError:
        raise ValueError(f"Unknown PyTorch device {device!r}; use -1 / 'cpu', an index or 'cuda:N'.") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count()
        index = dev.index or 0
        if index >= count:
            raise ValueError(f"device {device!r} was requested but this machine has {count} CUDA device(s); "
                             "use device=-1 (or 'cpu') for the CPU.")
    elif dev.type not in ("cpu", "mps", "xpu", "meta"):
        raise ValueError(f"Unknown PyTorch device {device!r}; use -1 / 'cpu', an index or 'cuda:N'.")
    return dev


class TorchAdapter:
    """Numpy in, numpy out, for every head of bert_torch."""

    name = "pt"
    requires = ("torch",)

    def model_class(self, head: str) -> type:
        import bert_torch

        return bert_torch.MODEL_CLASSES[framework_class_name(head, "pt")]

    def load(self, folder: str, head: str, device: Any = None, dtype: Any = None) -> LoadedModel:
        dev = resolve_device(device)
        model = self.model_class(head).from_pretrained(folder, torch_dtype=dtype_name(dtype)).eval().to(dev)
        return LoadedModel("pt", head, model, model.config, dev)

    def optimize(self, loaded: LoadedModel, **options: Any) -> LoadedModel:
        """Turn on the padding-free inference path (``model.optimize_for_inference(**options)``: measured GEMM
        backend, no work on padding tokens); returns ``loaded``. Padded positions of ``last_hidden_state`` then
        come back as zeros, so pipelines must pool over real tokens only (as they do)."""
        loaded.model.optimize_for_inference(**options)
        loaded.optimized = True
        return loaded

    def build(self, config: Any, head: str, state_dict: dict[str, np.ndarray] | None = None,
              seed: int = 0) -> LoadedModel:
        torch.manual_seed(seed)
        model = self.model_class(head)(config).eval()
        if state_dict is not None:
            model.load_schema_state_dict(state_dict)
        return LoadedModel("pt", head, model, model.config, torch.device("cpu"))

    def _tensors(self, loaded: LoadedModel, batch: Batch) -> dict[str, torch.Tensor]:
        out = {}
        for key, value in batch.items():
            value = np.asarray(value)
            if value.dtype.kind in "iub":
                value = value.astype(np.int64)
            out[key] = torch.from_numpy(np.ascontiguousarray(value)).to(loaded.device)
        return out

    def run(self, loaded: LoadedModel, batch: Batch, **options: Any) -> dict[str, Any]:
        loaded.model.eval()
        with torch.inference_mode():
            out = loaded.model(**self._tensors(loaded, batch), **options)
        return outputs_to_numpy(out, lambda t: t.detach().float().cpu().numpy())

    def run_sequences(self, loaded: LoadedModel, input_ids: list[list[int]], token_type_ids: list[list[int]],
                      pad_token_id: int = 0) -> list[dict[str, Any]]:
        return run_padded(self, loaded, input_ids, token_type_ids, pad_token_id)

    def gradients(self, loaded: LoadedModel, batch: Batch,
                  probe: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        from conversion.schema import normalize

        model = loaded.model
        model.eval()  # no dropout: gradients comparable across frameworks
        model.zero_grad(set_to_none=True)
        out = model(**self._tensors(loaded, batch))
        if probe is None:
            loss = out.loss
        else:
            loss = sum((out[k] * torch.from_numpy(np.asarray(w, np.float32)).to(loaded.device)).sum()
                       for k, w in probe.items())
        loss.backward()
        grads = {n: np.zeros(tuple(p.shape), np.float32) if p.grad is None else p.grad.detach().float().cpu().numpy()
                 for n, p in model.named_parameters()}
        model.zero_grad(set_to_none=True)
        return normalize(grads)

    def state_dict(self, loaded: LoadedModel) -> dict[str, np.ndarray]:
        return loaded.model.schema_state_dict()

    def train_steps(self, loaded: LoadedModel, global_batches: Iterable[Batch], config: Any,
                    resume_from: str | None = None, save: bool = False) -> list[float]:
        from bert_torch.train import train

        result = train(loaded.model, iter(global_batches), config.replace(log_every=1), strategy="none",
                       progress=False, resume_from=resume_from, save=save)
        loaded.model.eval()
        return list(result.losses)

    def train(self, args: Any) -> int:
        from bert_torch import train

        return int(train.main(args) or 0)


ADAPTER = TorchAdapter()
