"""text-classification: labels with scores (softmax, or sigmoid for multi-label and single-output models)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bertzoo.pipelines.base import Pipeline, Row
from bertzoo.pipelines.scores import sigmoid, softmax


class TextClassificationPipeline(Pipeline):
    """``pipe(text or {"text": ..., "text_pair": ...}, top_k=1)``.

    Without ``top_k`` a text gives ``[{"label", "score"}]`` (the best label, in a list, as transformers v4 returns
    it) and a list of texts one dict per text; ``top_k=k`` gives the k best, ``top_k=None`` every label, best first.
    Labels are ``config.id2label`` names. ``function_to_apply`` is "softmax", "sigmoid" or "none"; by default
    sigmoid for multi_label_classification and for a single output, softmax otherwise.
    """

    task = "text-classification"
    head = "BertForSequenceClassification"
    FUNCTIONS = {"softmax": softmax, "sigmoid": sigmoid, "none": lambda x: np.asarray(x, np.float64)}

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        legacy = "top_k" not in kwargs
        result = super().__call__(inputs, **({"top_k": 1, "_legacy": True} if legacy else {}), **kwargs)
        return [result] if legacy and not isinstance(inputs, (list, tuple)) else result

    def preprocess(self, item: str | dict, **kwargs: Any) -> list[Row]:
        if isinstance(item, dict):
            return [self.single_row(self.encode_words(item["text"])[0],
                                    self.encode_words(item["text_pair"])[0] if item.get("text_pair") else None)]
        return [self.single_row(self.encode_words(item)[0])]

    def postprocess(self, item: Any, rows: list[Row], outputs: list[dict[str, np.ndarray]], top_k: int | None = 1,
                    function_to_apply: str | None = None, _legacy: bool = False, **kwargs: Any) -> Any:
        logits = outputs[0]["logits"]
        if function_to_apply is None:
            multi = self.config.problem_type == "multi_label_classification" or logits.shape[-1] == 1
            function_to_apply = "sigmoid" if multi else "softmax"
        function = self.FUNCTIONS.get(str(function_to_apply).lower())
        if function is None:
            raise ValueError(f"function_to_apply={function_to_apply!r} is unknown; choose softmax, sigmoid or none.")
        scores = function(logits)
        order = np.argsort(-scores, kind="stable")[: top_k or len(scores)]
        results = [{"label": self.config.id2label[int(i)], "score": float(scores[i])} for i in order]
        return results[0] if _legacy else results
