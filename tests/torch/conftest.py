"""PyTorch test settings: full float32 matmul precision (no TF32) so the same tolerances hold on GPUs."""

import os

import pytest

torch = pytest.importorskip("torch")

os.environ.setdefault("USE_TF", "0")  # transformers (reference tests only) must not pull TensorFlow in
os.environ.setdefault("USE_FLAX", "0")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
