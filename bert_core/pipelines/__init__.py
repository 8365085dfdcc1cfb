"""Pipelines for the tasks of transformers' BERT docs, in any of the three frameworks.

``pipeline("fill-mask", model=FOLDER, framework="tf")`` imports TensorFlow and nothing else. The same inputs give
the same answers (scores to 1e-5) in PyTorch, TensorFlow and Flax.
"""

from __future__ import annotations

from typing import Any

from bert_core.pipelines.base import Pipeline
from bert_core.pipelines.feature_extraction import FeatureExtractionPipeline, SentenceEmbeddingPipeline
from bert_core.pipelines.fill_mask import FillMaskPipeline
from bert_core.pipelines.question_answering import QuestionAnsweringPipeline
from bert_core.pipelines.text_classification import TextClassificationPipeline
from bert_core.pipelines.token_classification import TokenClassificationPipeline

TASKS: dict[str, type[Pipeline]] = {
    cls.task: cls for cls in (FillMaskPipeline, FeatureExtractionPipeline, SentenceEmbeddingPipeline,
                              TextClassificationPipeline, TokenClassificationPipeline, QuestionAnsweringPipeline)
}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def pipeline(task: str, model: str, framework: str = "pt", device: str | None = None, batch_size: int = 8,
             tokenizer: Any = None) -> Pipeline:
    """Build the pipeline for ``task`` on the model folder ``model`` in ``framework`` ("pt", "tf" or "flax").

    ``device`` is the framework's own device name ("cpu", "cuda:0" for PyTorch; "/GPU:0" for TF; "gpu:0" for
    JAX); by default the framework's first accelerator, else the CPU. Inputs are batched ``batch_size`` at a
    time, padded per batch and sorted by length; results come back in input order.
    """
    task = TASK_ALIASES.get(task, task)
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(sorted(TASKS))}.")
    from bert_core.hub import resolve_model

    return TASKS[task](resolve_model(model), framework=framework, device=device, batch_size=batch_size,
                       tokenizer=tokenizer)


__all__ = ["pipeline", "Pipeline", "TASKS", "FillMaskPipeline", "FeatureExtractionPipeline",
           "SentenceEmbeddingPipeline", "TextClassificationPipeline", "TokenClassificationPipeline",
           "QuestionAnsweringPipeline"]
