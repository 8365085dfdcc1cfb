"""Pipelines for the tasks of transformers' BERT docs, in any of the three frameworks.

``pipeline("fill-mask", model=FOLDER, framework="tf")`` imports TensorFlow and nothing else. The same inputs give
the same answers (scores to 1e-5) in PyTorch, TensorFlow and Flax.
"""

from __future__ import annotations

from typing import Any

from bertzoo.pipelines.base import Pipeline
from bertzoo.pipelines.feature_extraction import FeatureExtractionPipeline, SentenceEmbeddingPipeline
from bertzoo.pipelines.fill_mask import FillMaskPipeline
from bertzoo.pipelines.question_answering import QuestionAnsweringPipeline
from bertzoo.pipelines.text_classification import TextClassificationPipeline
from bertzoo.pipelines.token_classification import TokenClassificationPipeline

TASKS: dict[str, type[Pipeline]] = {
    cls.task: cls for cls in (FillMaskPipeline, FeatureExtractionPipeline, SentenceEmbeddingPipeline,
                              TextClassificationPipeline, TokenClassificationPipeline, QuestionAnsweringPipeline)
}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def pipeline(task: str, model: str, framework: str | None = None, device: Any = None, batch_size: int = 8,
             tokenizer: Any = None, dtype: Any = None, torch_dtype: Any = None, optimize: bool = True) -> Pipeline:
    """Build the pipeline for ``task`` on the model folder ``model`` in ``framework`` ("pt", "tf" or "flax").

    Without ``framework`` the installed one is used (PyTorch, else TensorFlow, else Flax), as in transformers.
    ``device`` follows transformers v4 in every framework: ``-1`` the CPU, ``0`` the first accelerator, or a
    string ("cpu", "cuda:0", "gpu:0", "tpu:0"; a ``torch.device`` for PyTorch). By default the framework's first
    accelerator, else the CPU; a requested accelerator that is absent is an error. ``dtype`` (or transformers'
    ``torch_dtype``): ``"bfloat16"`` / ``"float16"`` or the framework's dtype object computes in 16 bits in every
    framework (outputs come back as float32 numpy). ``optimize`` (default True) runs the framework's fastest
    inference path (PyTorch: ``optimize_for_inference()``, no work on padding tokens); False runs the plain model. Inputs are batched ``batch_size`` at a
    time, padded per batch and sorted by length; results come back in input order.
    """
    task = TASK_ALIASES.get(task, task)
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(sorted(TASKS))}.")
    from bert_core.hub import resolve_model

    if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
        raise ValueError("Pass dtype or torch_dtype, not both.")
    return TASKS[task](resolve_model(model), framework=framework, device=device, batch_size=batch_size,
                       tokenizer=tokenizer, dtype=dtype if dtype is not None else torch_dtype, optimize=optimize)


__all__ = ["pipeline", "Pipeline", "TASKS", "FillMaskPipeline", "FeatureExtractionPipeline",
           "SentenceEmbeddingPipeline", "TextClassificationPipeline", "TokenClassificationPipeline",
           "QuestionAnsweringPipeline"]
