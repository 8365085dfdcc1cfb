"""Every private Keras / TensorFlow name bert_tf relies on, in one place.

Keras 3 has no public API for some of what bert_tf does (torch-exact AdamW under ``tf.distribute``, reading the
optimizer's moments for checkpoints, Keras ``fit`` on dict inputs under multi-worker strategies, Keras' pytree
registry). Code elsewhere in bert_tf calls the helpers below instead of touching private names, and the private
methods that bert_tf *overrides* are listed in ``OVERRIDDEN`` so that ``tests/tf/test_keras_internals.py`` fails
loudly (instead of an override silently becoming dead code) when a Keras release renames one. pyproject.toml
bounds ``keras`` to the minor versions this was checked against.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

# Private methods that bert_tf subclasses override (schedules.py's AdamW, training_module.py's TrainingModule),
# with the Keras base class that must still have them (checked by the tests).
OVERRIDDEN: dict[str, tuple[type, tuple[str, ...]]] = {
    "AdamW": (keras.optimizers.AdamW, (
        "_apply_weight_decay", "_use_weight_decay", "_clip_gradients", "_backend_apply_gradients",
        "_backend_update_step", "_all_reduce_sum_gradients", "_get_variable_index")),
    "TrainingModule": (keras.Model, ("_maybe_symbolic_build",)),
}

# Private attributes read or written on instances (checked to exist on a built AdamW / a Keras layer).
OPTIMIZER_ATTRIBUTES = ("_momentums", "_velocities", "_iterations", "_accumulated_gradients",
                        "_distribution_strategy")
LAYER_ATTRIBUTES = ("_trainable_variables", "_non_trainable_variables", "_allow_non_tensor_positional_args")
MODEL_ATTRIBUTES = ("_compile_loss", "_compile_config")


# -- optimizer state ---------------------------------------------------------------------------------------------
def adam_moments(optimizer, variable) -> tuple[tf.Variable, tf.Variable]:
    """The (first, second) moment slots of ``variable`` in a built Keras Adam/AdamW."""
    index = optimizer._get_variable_index(variable)
    return optimizer._momentums[index], optimizer._velocities[index]


def accumulated_gradient(optimizer, variable) -> tf.Variable:
    """The gradient accumulator of ``variable`` (optimizers built with ``gradient_accumulation_steps``)."""
    return optimizer._accumulated_gradients[optimizer._get_variable_index(variable)]


def iterations_variable(optimizer) -> tf.Variable:
    """The optimizer's step counter as an assignable variable."""
    return optimizer._iterations


def optimizer_strategy(optimizer) -> tf.distribute.Strategy:
    return optimizer._distribution_strategy


def maybe_merge_call(fn: Callable, strategy: tf.distribute.Strategy, *args):
    """Run ``fn(distribution, *args)`` in cross-replica context (TF's helper Keras' own optimizer uses)."""
    return tf.__internal__.distribute.interim.maybe_merge_call(fn, strategy, *args)


# -- layers, models, strategies ---------------------------------------------------------------------------------
def own_variables(layer) -> list:
    """The variables a layer created itself (not its sublayers'), trainable first."""
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


def sublayers(layer, recursive: bool = False) -> list:
    """Direct (or all) sublayers in tracking order."""
    return list(layer._flatten_layers(include_self=False, recursive=recursive))


def auto_name(cls: type) -> str:
    """The unique name Keras would give a new ``cls`` layer (``tf_bert_model``, ``tf_bert_model_1``, ...)."""
    from keras.src.utils.naming import auto_name as keras_auto_name

    return keras_auto_name(cls.__name__)


def allow_non_tensor_positional_args(layer) -> None:
    """Let ``layer(...)`` take a dict with Python values (flags) as its positional argument, as transformers did."""
    layer._allow_non_tensor_positional_args = True


def compiled_with_loss(model) -> bool:
    """Whether the latest ``compile`` had a loss (Keras keeps the previous one's ``_compile_loss`` when compiled
    again with ``loss=None``, so that attribute alone cannot tell)."""
    config = getattr(model, "_compile_config", None)
    if config is not None:
        return config.config.get("loss") is not None
    return getattr(model, "_compile_loss", None) is not None


def in_multi_worker_mode(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def register_tree_node(cls: type, flatten: Callable, unflatten: Callable) -> None:
    """Make Keras' nested-structure utilities (``keras.tree``: functional API, ``predict``) traverse ``cls``.

    ``flatten(obj) -> (children, aux)``, ``unflatten(aux, children) -> obj``. Keras keeps its registry in optree's
    ``"keras"`` namespace (or dm-tree where optree is missing).
    """
    from keras.src.tree import tree_api

    impl = tree_api.tree_impl
    if impl.__name__.endswith("optree_impl"):
        import optree

        try:
            optree.register_pytree_node(cls, lambda o: (*flatten(o), None), unflatten, namespace="keras")
        except ValueError:
            pass  # already registered (module reloaded)
    else:  # dm-tree / torch tree: a class with tree_flatten / tree_unflatten
        cls.tree_flatten = lambda self: flatten(self)
        cls.tree_unflatten = classmethod(lambda c, aux, children: unflatten(aux, children))
        impl.register_tree_node_class(cls)
