"""Plain ``model.fit`` (labels in the input dict) under MirroredStrategy equals one device."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from bert_core import BertConfig
    from bert_tf import TFBertForSequenceClassification

    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=37, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        num_labels=3)
    rng = np.random.default_rng(0)
    data = {"input_ids": rng.integers(1, 99, (8, 10)).astype("int32"),
            "attention_mask": np.ones((8, 10), "int32"), "labels": rng.integers(0, 3, (8,)).astype("int32")}

    def run(strategy):
        with strategy.scope():
            model = TFBertForSequenceClassification(config)
            model(data["input_ids"][:1])
            model.set_weights(weights)
            model.compile(optimizer=keras.optimizers.SGD(0.5))
        history = model.fit(tf.data.Dataset.from_tensor_slices(data).batch(8), epochs=2, verbose=0)
        return history.history["loss"], model.get_weights()

    probe = TFBertForSequenceClassification(config)
    probe(data["input_ids"][:1])
    weights = probe.get_weights()
    one_loss, one_w = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two_loss, two_w = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    assert np.allclose(one_loss, two_loss, atol=1e-5), (one_loss, two_loss)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(one_w, two_w))
    assert worst < 1e-5, worst
    print("ok", one_loss, two_loss, worst)
""")


def test_fit_under_mirrored_strategy_equals_one_device():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd=root,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": root})
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.startswith("ok")
