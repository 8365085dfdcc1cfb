"""transformers 4.57.6's TF pre-training step as a baseline: one persistent Keras 2 subprocess that times on request.

transformers' TF classes need tf-keras (``TF_USE_LEGACY_KERAS=1`` before TensorFlow loads), so they cannot share a
process with Keras 3. ``TransformersTFStep(layers, batch)`` starts ``TFBertForPreTraining`` (BERT-base with
``layers`` layers, dropout as trained) with the usual step (tape, global-norm clip 1.0,
``tf.keras.optimizers.AdamW``), runs two warm-up steps, and then ``time(n)`` returns the fastest of ``n`` steps in
seconds. Used by ``bench/tf_train_bench.py`` and ``bench/train_step.py --frameworks tf``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np, tensorflow as tf
from transformers import BertConfig, TFBertForPreTraining
from bench.tf_padding_bench import timed
model = TFBertForPreTraining(BertConfig(num_hidden_layers={layers}))
opt = tf.keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=0.01)
x = {{k: tf.constant(v.astype("int32")) for k, v in np.load({batch!r}).items()}}
@tf.function
def step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x, training=True).loss)
    grads = tape.gradient(loss, model.trainable_variables)
    grads, _ = tf.clip_by_global_norm(grads, 1.0)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    return loss
step(x).numpy(); step(x).numpy()
print("READY", flush=True)
for line in sys.stdin:
    print(json.dumps(timed(lambda: step(x).numpy(), int(line))), flush=True)
"""


class TransformersTFStep:
    """The worker process; ``close()`` ends it (also on a failed start, which raises RuntimeError)."""

    def __init__(self, layers: int, batch: dict[str, np.ndarray]) -> None:
        with tempfile.NamedTemporaryFile(suffix=".npz", delete=False) as f:
            np.savez(f, **batch)
        self.batch_file = f.name
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", USE_TF="1", USE_TORCH="0", TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("KERAS_BACKEND", None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER.format(root=ROOT, layers=layers, batch=f.name)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not self.process.stdout.readline().startswith("READY"):
            error = (self.process.stderr.read().strip().splitlines() or ["no output"])[-1][:200]
            self.close()
            raise RuntimeError(f"transformers' TF worker failed (is tf-keras installed?): {error}")

    def time(self, n: int = 1) -> float:
        self.process.stdin.write(f"{n}\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait()
        os.remove(self.batch_file)
