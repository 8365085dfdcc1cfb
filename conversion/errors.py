"""Errors raised on bad checkpoints: each names the file and says what is wrong and what to do."""

from __future__ import annotations

import os


class CheckpointError(ValueError):
    """A checkpoint file or folder cannot be read or written; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class WeightMismatchError(ValueError):
    """Loaded tensors do not fit the model: lists missing, unexpected and wrongly shaped names."""
