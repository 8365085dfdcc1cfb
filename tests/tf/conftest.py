"""TensorFlow test settings: Keras on the TF backend, TF32 off, so the same tolerances hold on GPUs."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from tests.conftest import require  # noqa: E402

tf = require("tensorflow")
require("keras")

tf.config.experimental.enable_tensor_float_32_execution(False)
