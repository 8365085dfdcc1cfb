"""The pipeline machinery every task shares: tokenizing, batching by length, running a backend, reordering.

A task turns one input into one or more *rows* (a row is one model input: ids, token types, and whatever the
task needs to read the outputs back, such as character offsets). Rows of all inputs are sorted by length,
batched, padded per batch, run, and handed back to the task in input order.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bert_core.adapter import LoadedModel
from bertzoo.adapters import canonical, default_framework, get_adapter


@dataclasses.dataclass
class Row:
    """One model input. ``extra`` carries what the task needs to read the outputs back."""

    input_ids: list[int]
    token_type_ids: list[int]
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def check_count(name: str, value: Any, least: int = 1) -> None:
    """``value`` must be an integer >= ``least``: a clear ValueError naming the option otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}.")


class Pipeline:
    """Base class: subclasses set ``task`` and ``head`` and implement ``preprocess`` and ``postprocess``."""

    task = ""
    head = ""

    def __init__(self, model: str, framework: str | None = None, device: Any = None, batch_size: int = 8,
                 tokenizer: Any = None, dtype: Any = None, optimize: bool = True) -> None:
        from bert_core import BertTokenizerFast

        check_count("batch_size", batch_size)
        self.model_path = model
        self.framework = canonical(framework) if framework is not None else default_framework()
        self.batch_size = batch_size
        self.tokenizer = tokenizer if tokenizer is not None else BertTokenizerFast.from_pretrained(model)
        self.adapter = get_adapter(self.framework)
        self.loaded: LoadedModel = self.adapter.load(model, self.head, device, dtype)
        if optimize:  # the framework's fastest inference path; pipelines read real tokens only
            self.adapter.optimize(self.loaded)
        self.config = self.loaded.config
        self.max_length = min(self.config.max_position_embeddings,
                              getattr(self.tokenizer, "model_max_length", None) or 10**9)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(task={self.task!r}, model={self.model_path!r}, "
                f"framework={self.framework!r}, batch_size={self.batch_size})")

    # -- tokenization helpers -------------------------------------------------------------------------------
    def encode_words(self, text: str) -> tuple[list[int], list[tuple[int, int]], list[str]]:
        """Token ids, character offsets and token strings of ``text``, without special tokens."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        offsets = [tuple(o) for o in enc["offset_mapping"]]
        return ids, offsets, self.tokenizer.convert_ids_to_tokens(ids)

    def single_row(self, ids: list[int], pair_ids: list[int] | None = None, **extra: Any) -> Row:
        """[CLS] ids [SEP] (pair_ids [SEP]) with token types, truncated to the model's length."""
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        if pair_ids is None:
            ids = ids[: self.max_length - 2]
            return Row([cls_id, *ids, sep_id], [0] * (len(ids) + 2), extra)
        budget = self.max_length - 3
        while len(ids) + len(pair_ids) > budget:  # longest_first
            if len(ids) >= len(pair_ids):
                ids = ids[:-1]
            else:
                pair_ids = pair_ids[:-1]
        return Row([cls_id, *ids, sep_id, *pair_ids, sep_id], [0] * (len(ids) + 2) + [1] * (len(pair_ids) + 1),
                   extra)

    # -- task interface -------------------------------------------------------------------------------------
    def preprocess(self, item: Any, **kwargs: Any) -> list[Row]:
        raise NotImplementedError

    def postprocess(self, item: Any, rows: list[Row], outputs: list[dict[str, np.ndarray]], **kwargs: Any) -> Any:
        raise NotImplementedError

    # -- running --------------------------------------------------------------------------------------------
    # Numeric options every task may take: name -> smallest value (None allowed where the task gives it a meaning)
    _COUNTS = {"top_k": 1, "max_answer_len": 1, "max_seq_len": 3, "max_question_len": 1, "doc_stride": 0}

    def check_options(self, kwargs: dict[str, Any]) -> None:
        """Refuse numbers that make no sense (``top_k=-3``) before any work, naming the option."""
        for name, least in self._COUNTS.items():
            if name in kwargs and not (kwargs[name] is None and name in ("top_k", "doc_stride", "max_seq_len")):
                check_count(name, kwargs[name], least)

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        single = not isinstance(inputs, (list, tuple)) or (self.task == "question-answering"
                                                            and isinstance(inputs, tuple))
        results = self.run_each([inputs] if single else list(inputs), raise_errors=True, **kwargs)
        return results[0] if single else results

    def run_each(self, items: list[Any], raise_errors: bool = False, **kwargs: Any) -> list[Any]:
        """Results for ``items`` in order. With ``raise_errors=False`` a bad item (a ``ValueError`` from its
        preprocessing or postprocessing) gets its exception in its place and every other item its result."""
        self.check_options(kwargs)
        rows: list[list[Row] | Exception] = []
        for item in items:
            try:
                rows.append(self.preprocess(item, **kwargs))
            except ValueError as e:
                if raise_errors:
                    raise
                rows.append(e)
        outputs = self.forward([r for item_rows in rows if not isinstance(item_rows, Exception) for r in item_rows])
        results, start = [], 0
        for item, item_rows in zip(items, rows):
            if isinstance(item_rows, Exception):
                results.append(item_rows)
                continue
            try:
                results.append(self.postprocess(item, item_rows, outputs[start:start + len(item_rows)], **kwargs))
            except ValueError as e:
                if raise_errors:
                    raise
                results.append(e)
            start += len(item_rows)
        return results

    def forward(self, rows: list[Row]) -> list[dict[str, np.ndarray]]:
        """Run every row, ``batch_size`` at a time in order of length; outputs per row (token outputs trimmed to
        the row's length), in input order. The adapter decides how: padded per batch, or packed without padding."""
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].input_ids))
        out: list[dict[str, np.ndarray] | None] = [None] * len(rows)
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            results = self.adapter.run_sequences(self.loaded, [rows[i].input_ids for i in chunk],
                                                 [rows[i].token_type_ids for i in chunk], pad)
            for i, result in zip(chunk, results):
                out[i] = result
        return out  # type: ignore[return-value]
