"""TensorFlow test settings: Keras on the TF backend, TF32 off, so the same tolerances hold on GPUs."""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

tf = pytest.importorskip("tensorflow")
pytest.importorskip("keras")

tf.config.experimental.enable_tensor_float_32_execution(False)
