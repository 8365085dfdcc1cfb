"""Every private Keras / TensorFlow name that bert_tf uses (fenced in bert_tf.keras_internals) still exists, and
pyproject.toml bounds keras to the minor versions checked."""

from __future__ import annotations

import pathlib
import re

import keras
import numpy as np
import tensorflow as tf

from bert_tf import keras_internals as ki


def test_overridden_private_methods_exist_on_the_keras_base():
    from bert_tf.schedules import AdamW
    from bert_tf.training_module import TrainingModule

    subclasses = {"AdamW": AdamW, "TrainingModule": TrainingModule}
    assert set(ki.OVERRIDDEN) == set(subclasses)
    for where, (base, names) in ki.OVERRIDDEN.items():
        assert issubclass(subclasses[where], base), where
        for name in names:
            assert callable(getattr(base, name, None)), f"{base.__name__}.{name} is gone: {where} overrides it"


def test_private_attributes_and_helpers_exist():
    variable = keras.Variable(np.zeros(3, np.float32))
    optimizer = keras.optimizers.AdamW(gradient_accumulation_steps=2)
    optimizer.build([variable])
    for name in ki.OPTIMIZER_ATTRIBUTES:
        assert hasattr(optimizer, name), name
    m, v = ki.adam_moments(optimizer, variable)
    assert m.shape == v.shape == (3,)
    assert ki.accumulated_gradient(optimizer, variable).shape == (3,)
    assert int(ki.iterations_variable(optimizer).numpy()) == 0
    assert isinstance(ki.optimizer_strategy(optimizer), tf.distribute.Strategy)
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    for name in ki.LAYER_ATTRIBUTES:
        assert hasattr(layer, name), name
    model = keras.Sequential([layer])
    assert not ki.compiled_with_loss(model)
    model.compile(loss="mse")
    for name in ki.MODEL_ATTRIBUTES:
        assert hasattr(model, name), name
    assert ki.compiled_with_loss(model)
    model.compile(optimizer="sgd")
    assert not ki.compiled_with_loss(model) and model._compile_loss is not None  # Keras keeps the stale loss
    assert len(ki.own_variables(layer)) == 2 and ki.sublayers(keras.Sequential([layer])) == [layer]
    assert ki.auto_name(type("TFBertThing", (), {})).startswith("tf_bert_thing")
    assert callable(tf.__internal__.distribute.interim.maybe_merge_call)
    from tensorflow.python.distribute.collective_all_reduce_strategy import CollectiveAllReduceExtended

    assert callable(CollectiveAllReduceExtended._in_multi_worker_mode)
    assert not ki.in_multi_worker_mode(tf.distribute.get_strategy())


def test_registered_tree_node_is_traversed_by_keras_tree():
    from bert_core import outputs as O

    import bert_tf  # noqa: F401  (registers the output classes)

    out = O.MaskedLMOutput(logits=np.ones(2), hidden_states=(np.zeros(1), np.zeros(1)))
    leaves = keras.tree.flatten(out)
    assert len(leaves) == 3  # None fields are left out
    again = keras.tree.map_structure(lambda x: x + 1, out)
    assert type(again) is O.MaskedLMOutput and again.loss is None and again.logits[0] == 2


def test_keras_upper_bound_is_the_next_minor():
    text = (pathlib.Path(__file__).parents[2] / "pyproject.toml").read_text()
    bound = re.search(r'"keras>=[\d.]+,<(\d+)\.(\d+)"', text)
    assert bound, "pyproject.toml must bound keras (private Keras internals: see bert_tf/keras_internals.py)"
    major, minor = (int(x) for x in keras.__version__.split(".")[:2])
    assert (major, minor) < (int(bound[1]), int(bound[2])), f"installed keras {keras.__version__} is above the bound"


def test_no_private_keras_names_or_cross_module_private_imports_outside_keras_internals():
    """Private Keras names live in keras_internals only; no bert_tf module imports another's private name."""
    import ast

    root = pathlib.Path(ki.__file__).parent
    private_keras = ("_trainable_variables", "_non_trainable_variables", "_flatten_layers", "_compile_loss",
                     "_compile_config")
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bert_tf"):
                assert not [a.name for a in node.names if a.name.startswith("_")], (path.name, node.module)
            if path.name != "keras_internals.py":
                names = {node.attr} if isinstance(node, ast.Attribute) else (
                    {node.value} if isinstance(node, ast.Constant) and isinstance(node.value, str) else set())
                assert not names & set(private_keras), (path.name, names)
