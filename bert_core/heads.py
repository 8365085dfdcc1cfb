"""The BERT heads, their names in each framework, and loss rules shared by all three.

A head is named by its PyTorch class (transformers v4's name); the TF and Flax twins follow from it.
"""

from __future__ import annotations

HEADS: tuple[str, ...] = (
    "BertModel", "BertForPreTraining", "BertLMHeadModel", "BertForMaskedLM", "BertForNextSentencePrediction",
    "BertForSequenceClassification", "BertForMultipleChoice", "BertForTokenClassification",
    "BertForQuestionAnswering",
)


def framework_class_name(head: str, framework: str) -> str:
    """``framework_class_name("BertLMHeadModel", "flax") == "FlaxBertForCausalLM"`` (transformers' names)."""
    if head not in HEADS:
        raise ValueError(f"Unknown head {head!r}; choose one of {', '.join(HEADS)}.")
    if framework in ("pt", "torch"):
        return head
    if framework == "tf":
        return "TF" + head
    if framework == "flax":
        return "FlaxBertForCausalLM" if head == "BertLMHeadModel" else "Flax" + head
    raise ValueError(f"Unknown framework {framework!r}; choose pt, tf or flax.")


def head_from_class_name(name: str) -> str:
    """Inverse of framework_class_name: ``"TFBertForMaskedLM" -> "BertForMaskedLM"``."""
    for prefix in ("TF", "Flax"):
        if name.startswith(prefix + "Bert"):
            name = name[len(prefix):]
    if name == "BertForCausalLM":
        name = "BertLMHeadModel"
    if name not in HEADS:
        raise ValueError(f"Unknown BERT class {name!r}; known heads: {', '.join(HEADS)}.")
    return name


def infer_problem_type(problem_type: str | None, num_labels: int, labels_are_integers: bool) -> str:
    """transformers' rule for sequence classification losses when config.problem_type is unset."""
    if problem_type is not None:
        return problem_type
    if num_labels == 1:
        return "regression"
    if labels_are_integers:
        return "single_label_classification"
    return "multi_label_classification"
