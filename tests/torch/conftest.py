"""PyTorch test settings: full float32 matmul precision (no TF32) so the same tolerances hold on GPUs."""

from tests.conftest import require

torch = require("torch")

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
