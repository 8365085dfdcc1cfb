"""The BERT heads: one declarative table, one row per head, that every other place derives its facts from.

A head is named by its PyTorch class (transformers v4's name); its TF and Flax twins, whether it has a pooler,
an MLM or NSP head, its classifier, the labels it takes, its output class and loss, and whether its inputs carry a
choices axis are columns of ``HEAD_TABLE``. Adding a head is one row here plus one class body per framework.
"""

from __future__ import annotations

import dataclasses

IGNORE_INDEX = -100
"""Label value every loss ignores (transformers' ``CrossEntropyLoss`` default)."""


@dataclasses.dataclass(frozen=True)
class Head:
    """One row of the head table. ``classifier`` is the schema name of the head's final projection (None when
    it has none) and ``classifier_outputs`` its output size: ``"num_labels"``, or a fixed number."""

    name: str
    pooled: bool = False
    mlm: bool = False
    nsp: bool = False
    classifier: str | None = None
    classifier_outputs: str | int | None = None
    label_names: tuple[str, ...] = ()
    output_class: str = ""
    loss: str | None = None
    choices_axis: bool = False
    causal: bool = False
    flax_name: str | None = None
    task: str | None = None
    """The ``bert_core.training`` task that trains this head (None: not a training task)."""
    auto_name: str = ""
    """transformers' Auto class for the head (``AutoModelForMaskedLM``; TF and Flax prefix it)."""
    token_outputs: tuple[str, ...] = ()
    """Output fields with a sequence axis (one value per token); the others are one value per row."""
    tf_label_names: tuple[str, ...] | None = None
    """transformers' TF label arguments where they differ from PyTorch's (None: ``label_names``)."""

    @property
    def tf_name(self) -> str:
        return "TF" + self.name

    def class_name(self, framework: str) -> str:
        if framework in ("pt", "torch"):
            return self.name
        if framework == "tf":
            return self.tf_name
        if framework == "flax":
            return self.flax_name or "Flax" + self.name
        raise ValueError(f"Unknown framework {framework!r}; choose pt, tf or flax.")


HEAD_TABLE: tuple[Head, ...] = (
    Head("BertModel", pooled=True, output_class="BaseModelOutputWithPoolingAndCrossAttentions", auto_name="AutoModel", token_outputs=("last_hidden_state",)),
    Head("BertForPreTraining", pooled=True, mlm=True, nsp=True, classifier="cls.seq_relationship",
         classifier_outputs=2, label_names=("labels", "next_sentence_label"), output_class="BertForPreTrainingOutput",
         loss="pretraining", task="pretraining", auto_name="AutoModelForPreTraining", token_outputs=("prediction_logits",)),
    Head("BertLMHeadModel", mlm=True, label_names=("labels",), output_class="CausalLMOutputWithCrossAttentions",
         loss="causal_lm", causal=True, flax_name="FlaxBertForCausalLM", auto_name="AutoModelForCausalLM", token_outputs=("logits",)),
    Head("BertForMaskedLM", mlm=True, label_names=("labels",), output_class="MaskedLMOutput", loss="masked_lm",
         task="mlm", auto_name="AutoModelForMaskedLM", token_outputs=("logits",)),
    Head("BertForNextSentencePrediction", pooled=True, nsp=True, classifier="cls.seq_relationship",
         classifier_outputs=2, label_names=("labels",), output_class="NextSentencePredictorOutput",
         loss="next_sentence", auto_name="AutoModelForNextSentencePrediction",
         tf_label_names=("next_sentence_label", "labels")),
    Head("BertForSequenceClassification", pooled=True, classifier="classifier", classifier_outputs="num_labels",
         label_names=("labels",), output_class="SequenceClassifierOutput", loss="sequence_classification",
         task="sequence-classification", auto_name="AutoModelForSequenceClassification"),
    Head("BertForMultipleChoice", pooled=True, classifier="classifier", classifier_outputs=1,
         label_names=("labels",), output_class="MultipleChoiceModelOutput", loss="multiple_choice",
         choices_axis=True, auto_name="AutoModelForMultipleChoice"),
    Head("BertForTokenClassification", classifier="classifier", classifier_outputs="num_labels",
         label_names=("labels",), output_class="TokenClassifierOutput", loss="token_classification",
         task="token-classification", auto_name="AutoModelForTokenClassification",
         token_outputs=("logits",)),
    Head("BertForQuestionAnswering", classifier="qa_outputs", classifier_outputs="num_labels",
         label_names=("start_positions", "end_positions"), output_class="QuestionAnsweringModelOutput",
         loss="span", task="question-answering", auto_name="AutoModelForQuestionAnswering",
         token_outputs=("start_logits", "end_logits")),
)
HEADS_BY_NAME: dict[str, Head] = {h.name: h for h in HEAD_TABLE}
HEADS: tuple[str, ...] = tuple(HEADS_BY_NAME)


def head(name: str) -> Head:
    """The table row of ``name`` (a PyTorch, TF or Flax class name)."""
    return HEADS_BY_NAME[head_from_class_name(name)]


def framework_class_name(name: str, framework: str) -> str:
    """``framework_class_name("BertLMHeadModel", "flax") == "FlaxBertForCausalLM"`` (transformers' names)."""
    if name not in HEADS_BY_NAME:
        raise ValueError(f"Unknown head {name!r}; choose one of {', '.join(HEADS)}.")
    return HEADS_BY_NAME[name].class_name(framework)


def head_from_class_name(name: str) -> str:
    """Inverse of framework_class_name: ``"TFBertForMaskedLM" -> "BertForMaskedLM"``."""
    if name == "BertForCausalLM":
        name = "BertLMHeadModel"
    for row in HEAD_TABLE:
        if name in (row.name, row.tf_name, row.class_name("flax"), "Flax" + row.name):
            return row.name
    raise ValueError(f"Unknown BERT class {name!r}; known heads: {', '.join(HEADS)}.")


def heads_where(**facts: object) -> tuple[str, ...]:
    """Head names whose row has every given column value: ``heads_where(pooled=True)``."""
    return tuple(h.name for h in HEAD_TABLE if all(getattr(h, k) == v for k, v in facts.items()))


def infer_problem_type(problem_type: str | None, num_labels: int, labels_are_integers: bool) -> str:
    """transformers' rule for sequence classification losses when config.problem_type is unset."""
    if problem_type is not None:
        return problem_type
    if num_labels == 1:
        return "regression"
    if labels_are_integers:
        return "single_label_classification"
    return "multi_label_classification"
