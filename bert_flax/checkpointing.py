"""Orbax checkpoints of a ``bert_flax.train`` run, and export for the other frameworks.

A run's ``output_dir`` holds ``checkpoints/<step>/`` (an ``orbax.checkpoint.CheckpointManager``: the sharded
parameters and optimizer state, written by every process for its own shards, plus ``meta`` JSON with the step,
losses and ``TrainingConfig``), and at the end the model in the ``save_pretrained`` layout
(``config.json`` + ``flax_model.msgpack``) that every framework loads; ``export`` converts it to
``model.safetensors`` (PyTorch) or ``tf_model.h5`` (TensorFlow) with ``conversion.convert``.
Restoring puts every array straight onto the current mesh with the shardings it asks for, so a run can resume
on another mesh shape.
"""

from __future__ import annotations

import os
from typing import Any

import jax

CHECKPOINTS = "checkpoints"


def manager(directory: str | os.PathLike, max_to_keep: int | None = 3):
    """An ``orbax.checkpoint.CheckpointManager`` over ``directory`` (created; an absolute path)."""
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(os.path.abspath(os.fspath(directory)), options=options)


def save(mngr, step: int, state: dict, meta: dict[str, Any]) -> None:
    """Write ``state`` (``{"params", "opt_state"}``, sharded arrays) and ``meta`` (JSON) as checkpoint ``step``;
    all processes call it; returns once the write is finished (so a crash right after leaves it whole)."""
    import orbax.checkpoint as ocp

    mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
              force=True)
    mngr.wait_until_finished()


def resolve(folder: str | os.PathLike) -> tuple[str, int]:
    """``(manager directory, step)`` for ``--resume-from``: a run's output dir or its ``checkpoints`` folder (the
    latest step), or one ``checkpoints/<step>`` folder."""
    folder = os.path.abspath(os.fspath(folder))
    if os.path.isdir(os.path.join(folder, CHECKPOINTS)):
        folder = os.path.join(folder, CHECKPOINTS)
    base = os.path.basename(folder)
    if base.isdigit() and os.path.isdir(folder):
        return os.path.dirname(folder), int(base)
    steps = sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if os.path.isdir(folder) else []
    if not steps:
        raise FileNotFoundError(f"{folder} holds no Orbax checkpoint: resume from the --output-dir of a bertzoo "
                                f"train --framework flax run (it has {CHECKPOINTS}/<step>/ folders) or one of "
                                f"those step folders")
    return folder, steps[-1]


def restore(folder: str | os.PathLike, abstract_state: dict) -> tuple[int, dict, dict]:
    """``(step, state, meta)`` from the checkpoint ``folder`` names (see ``resolve``); arrays are placed with the
    shardings of ``abstract_state`` (a tree of ``jax.ShapeDtypeStruct`` with ``sharding``)."""
    import orbax.checkpoint as ocp

    directory, step = resolve(folder)
    mngr = manager(directory, max_to_keep=None)
    restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state),
                                                         meta=ocp.args.JsonRestore()))
    mngr.close()
    return step, restored["state"], dict(restored["meta"])


def abstract(state: dict) -> dict:
    """Shapes, dtypes and shardings of a state tree (what ``restore`` needs)."""
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)


def export(src: str | os.PathLike, dst: str | os.PathLike, to: str = "pt") -> str:
    """Convert a trained model folder (``save_pretrained`` layout) to ``to`` (``pt``: model.safetensors, ``tf``:
    tf_model.h5, ``flax``, ``bin``, ...) in ``dst`` with ``conversion.convert``; returns ``dst``."""
    import conversion

    conversion.convert(os.fspath(src), os.fspath(dst), to=to)
    return os.fspath(dst)
