"""Which BERT head a checkpoint holds, and which tensors (with shapes) a config and head expect."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bert_core.heads import HEAD_TABLE, HEADS, HEADS_BY_NAME, head_from_class_name, heads_where
from conversion.schema import TIED_DECODER_WEIGHT


def infer_head(config: Any | None, state: Iterable[str]) -> str:
    """The PyTorch head name (``"BertForMaskedLM"``) of a checkpoint: the one rule every reader uses.

    ``config.architectures[0]`` decides when it names a BERT class of any framework (``TFBertForMaskedLM``,
    ``FlaxBertForCausalLM``, ...); otherwise the schema names of ``state`` (names, or a mapping keyed by them) do, through the head table's columns: ``qa_outputs`` -> question answering;
    ``classifier`` without a pooler -> token classification, with one -> sequence classification (multiple choice
    has the same names and shapes as a one-label classifier: set ``architectures`` or pass ``head`` for it); ``cls.predictions`` with ``cls.seq_relationship``
    -> pre-training, alone -> masked LM (causal LM when ``config.is_decoder``); ``cls.seq_relationship`` alone ->
    next sentence prediction; nothing else -> ``BertModel``.
    """
    get = config.get if isinstance(config, dict) else lambda key, default=None: getattr(config, key, default)
    for name in get("architectures") or ():
        try:
            return head_from_class_name(str(name))
        except ValueError:
            continue
    keys = set(state)
    has = lambda prefix: any(k.startswith(prefix) or k.startswith("bert." + prefix) for k in keys)  # noqa: E731
    pooled, mlm, nsp = has("pooler."), has("cls.predictions."), has("cls.seq_relationship.")
    for row in HEAD_TABLE:
        if row.classifier in ("classifier", "qa_outputs") and has(row.classifier + "."):
            if row.classifier == "qa_outputs":
                return row.name
            # Multiple choice holds the same names and shapes as a one-label (regression) sequence classifier:
            # only ``architectures`` or an explicit ``head`` tells them apart.
            return row.name if pooled else heads_where(classifier="classifier", pooled=False)[0]
    causal = bool(get("is_decoder", False))
    for row in HEAD_TABLE:
        if (row.mlm, row.nsp) == (mlm, nsp) and (mlm or nsp) and row.causal == (causal and mlm and not nsp):
            return row.name
    return "BertModel"


def expected_shapes(config: Any, head: str) -> tuple[dict[str, tuple[int, ...]], set[str]]:
    """(schema name -> shape, optional names) that a model of ``head`` built from ``config`` holds.

    Optional names may be absent without loss (the decoder weight tied to the word embeddings).
    """
    if head not in HEADS_BY_NAME:
        raise ValueError(f"Unknown head {head!r}; choose one of {', '.join(HEADS)}.")
    H, I, V = config.hidden_size, config.intermediate_size, config.vocab_size
    P, T = config.max_position_embeddings, config.type_vocab_size
    p = "" if head == "BertModel" else "bert."
    out: dict[str, tuple[int, ...]] = {
        f"{p}embeddings.word_embeddings.weight": (V, H),
        f"{p}embeddings.position_embeddings.weight": (P, H),
        f"{p}embeddings.token_type_embeddings.weight": (T, H),
        f"{p}embeddings.LayerNorm.weight": (H,),
        f"{p}embeddings.LayerNorm.bias": (H,),
    }

    def linear(name: str, n_in: int, n_out: int) -> None:
        out[name + ".weight"] = (n_out, n_in)
        out[name + ".bias"] = (n_out,)

    def norm(name: str) -> None:
        out[name + ".weight"] = (H,)
        out[name + ".bias"] = (H,)

    relative = config.position_embedding_type in ("relative_key", "relative_key_query")
    for i in range(config.num_hidden_layers):
        layer = f"{p}encoder.layer.{i}."
        blocks = ["attention"] + (["crossattention"] if config.is_decoder and config.add_cross_attention else [])
        for block in blocks:
            for proj in ("query", "key", "value"):
                linear(f"{layer}{block}.self.{proj}", H, H)
            if relative:
                out[f"{layer}{block}.self.distance_embedding.weight"] = (2 * P - 1, config.head_dim)
            linear(f"{layer}{block}.output.dense", H, H)
            norm(f"{layer}{block}.output.LayerNorm")
        linear(f"{layer}intermediate.dense", H, I)
        linear(f"{layer}output.dense", I, H)
        norm(f"{layer}output.LayerNorm")
    row = HEADS_BY_NAME[head]
    if row.pooled:
        linear(f"{p}pooler.dense", H, H)
    optional: set[str] = set()
    if row.mlm:
        linear("cls.predictions.transform.dense", H, H)
        norm("cls.predictions.transform.LayerNorm")
        out["cls.predictions.bias"] = (V,)
        out[TIED_DECODER_WEIGHT] = (V, H)
        if getattr(config, "tie_word_embeddings", True):
            optional.add(TIED_DECODER_WEIGHT)
    if row.classifier is not None:
        n_out = config.num_labels if row.classifier_outputs == "num_labels" else row.classifier_outputs
        linear(row.classifier, H, n_out)
    return out, optional


_LABELED_HEADS = ("BertForSequenceClassification", "BertForTokenClassification")
_DEFAULT_LABELS = {0: "LABEL_0", 1: "LABEL_1"}


def _shape_of(value: Any) -> tuple[int, ...]:
    """The shape of an array, a ``TensorSpec`` or a plain shape tuple."""
    return tuple(getattr(value, "shape", value))


def infer_config_from_shapes(config: Any, shapes: Mapping[str, Any], head: str | None = None,
                             labels_given: bool | None = None) -> tuple[Any, list[str]]:
    """(config, notes): ``config`` completed from the checkpoint's tensor shapes where it is silent.

    Google's ``bert_config.json`` never records the label count of a ``run_classifier`` checkpoint: it is the
    first dimension of the classifier weight. When ``head`` (inferred from the config and names when None) is
    sequence or token classification and the config's labels are the defaults (2 labels named ``LABEL_0``,
    ``LABEL_1``: what a config without ``num_labels`` / ``id2label`` gives), ``num_labels`` is taken from
    ``classifier.weight``'s shape and ``id2label`` / ``label2id`` are renamed to match (``LABEL_0 ...``). A config
    that names its labels is left alone (a disagreement is then a shape mismatch, reported on load).

    Args:
        config: a ``bert_core.config.BertConfig``; never modified (a changed copy is returned).
        shapes: schema name -> shape, ``TensorSpec`` or array (``conversion.read_shapes`` gives one cheaply).
        head: PyTorch head name, or None to infer it.
        labels_given: whether the config file (or the caller) set ``num_labels`` / ``id2label``; None judges it
            from the config alone (default labels = not given).

    Returns the config to build the model from and human-readable notes for the load report (empty when
    nothing was inferred). Framework-free.
    """
    notes: list[str] = []
    head = head or infer_head(config, shapes)
    weight = next((shapes[k] for k in ("classifier.weight", "bert.classifier.weight") if k in shapes), None)
    if head not in _LABELED_HEADS or weight is None:
        return config, notes
    shape = _shape_of(weight)
    if len(shape) != 2 or shape[0] < 1:
        return config, notes
    n = int(shape[0])
    given = dict(config.id2label) != _DEFAULT_LABELS if labels_given is None else labels_given
    if n == config.num_labels or given:
        return config, notes
    config = type(config).from_dict(config.to_dict(), num_labels=n)
    notes.append(f"num_labels={n} from classifier.weight's shape {list(shape)}: the config does not record "
                 f"the label count, so the labels are named LABEL_0 ... LABEL_{n - 1}.")
    return config, notes
