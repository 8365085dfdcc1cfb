"""A sharded forward (data x tensor parallel, 8 virtual CPU devices) equals the unsharded one.

Run by ``test_sharding.py`` in this process when jax already sees 8 devices, otherwise as
``python -m tests.flax.sharding_check`` with ``XLA_FLAGS=--xla_force_host_platform_device_count=8``.
"""

from __future__ import annotations

import os
import sys


def check() -> str:
    import jax
    import numpy as np
    from jax.sharding import AxisType, PartitionSpec

    import bert_flax
    from bert_flax.partitioning import batch_sharding
    from tests.flax.helpers import head_inputs, head_labels, max_diff, tiny_config

    jax.config.update("jax_default_matmul_precision", "highest")
    assert jax.device_count() >= 8, f"needs 8 devices, found {jax.device_count()}"
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    config = tiny_config(vocab_size=96, intermediate_size=64, position_embedding_type="relative_key_query")
    model = bert_flax.FlaxBertForMaskedLM(config)
    inputs = head_inputs("BertForMaskedLM", batch=4, seq=12, vocab=96)
    labels = head_labels("BertForMaskedLM", inputs, config)
    reference = model(**inputs, **labels)

    params = model.shard_params(mesh)
    layer = params["bert"]["encoder"]["layer"]["0"]
    assert layer["attention"]["self"]["query"]["kernel"].sharding.spec == PartitionSpec(None, "model")
    assert layer["intermediate"]["dense"]["kernel"].sharding.spec == PartitionSpec(None, "model")
    assert layer["output"]["dense"]["kernel"].sharding.spec == PartitionSpec("model", None)
    emb = params["bert"]["embeddings"]["word_embeddings"]["embedding"]
    assert emb.sharding.spec == PartitionSpec("model", None)
    assert len(emb.addressable_shards) == 8 and emb.addressable_shards[0].data.shape == (24, 32)
    sharded_inputs = {k: jax.device_put(v, batch_sharding(mesh, v.ndim)) for k, v in {**inputs, **labels}.items()}
    out = model(**sharded_inputs, params=params)
    assert max_diff(out.logits, reference.logits) <= 1e-5
    assert max_diff(out.loss, reference.loss) <= 1e-5

    grad_fn = jax.jit(jax.grad(lambda p, batch: model(**batch, params=p).loss))
    grads = grad_fn(params, sharded_inputs)
    plain = jax.grad(lambda p: model(**inputs, **labels, params=p).loss)(model.params)
    for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(plain)):
        assert max_diff(a, b) <= 1e-4 * float(np.abs(b).max()) + 1e-7
    assert grads["bert"]["encoder"]["layer"]["0"]["attention"]["self"]["query"]["kernel"].sharding.spec == \
        PartitionSpec(None, "model")
    return "sharded forward and gradients equal the unsharded ones"


if __name__ == "__main__":
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    print(check())
    sys.exit(0)
