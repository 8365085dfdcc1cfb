"""A bert_torch model and its twin in another framework holding the same weights, built through the adapters
and cached per (framework, head, config options), for the equivalence and gradient tests."""

from __future__ import annotations

import numpy as np

from bert_core.adapter import LoadedModel
from tests.contract.builders import head_config
from tests.contract.conftest import get

_CACHE: dict[tuple, tuple[LoadedModel, LoadedModel]] = {}


def twins(framework: str, head: str, **options) -> tuple[LoadedModel, LoadedModel]:
    """``(torch model, framework's model)`` of ``head_config(head, **options)`` with the torch model's seeded
    weights (relative-position distance embeddings scaled up, so a mistake in them shows). The twin's
    ``state_dict`` must give back exactly the weights it was built with (nothing missing or dropped)."""
    key = (framework, head, tuple(sorted(options.items())))
    if key not in _CACHE:
        pt, other = get("pt"), get(framework)
        config = head_config(head, **options)
        weights = pt.state_dict(pt.build(config, head, seed=0))
        weights = {k: v * 20 if "distance_embedding" in k else v for k, v in weights.items()}
        reference = pt.build(config, head, state_dict=weights)
        twin = other.build(config, head, state_dict=weights, seed=1)
        back = other.state_dict(twin)
        assert set(back) == set(weights), (f"{framework} {head}: state_dict names differ: only there "
                                           f"{sorted(set(back) - set(weights))}, not loaded "
                                           f"{sorted(set(weights) - set(back))}")
        for name, value in weights.items():
            assert np.array_equal(back[name], value), f"{framework} {head}: {name} changed on load"
        _CACHE[key] = (reference, twin)
    return _CACHE[key]


def probe_for(outputs: dict, seed: int = 3) -> dict[str, np.ndarray]:
    """Fixed random weights for a base model's outputs, whose weighted sum is the scalar to differentiate."""
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(outputs[k].shape).astype(np.float32)
            for k in ("last_hidden_state", "pooler_output")}
