"""Which BERT head a checkpoint holds, and which tensors (with shapes) a config and head expect."""

from __future__ import annotations

from collections.abc import Iterable
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
