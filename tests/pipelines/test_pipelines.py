"""Every task in every framework on tiny models: same answers everywhere, scores to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

from bertzoo.pipelines import pipeline
from tests.conftest import require

FRAMEWORKS = ("pt", "tf", "flax")
MODULES = {"pt": "bert_torch", "tf": "bert_tf", "flax": "bert_flax"}
HEAD = {"fill-mask": "BertForMaskedLM", "feature-extraction": "BertModel", "sentence-embedding": "BertModel",
        "text-classification": "BertForSequenceClassification", "token-classification": "BertForTokenClassification",
        "question-answering": "BertForQuestionAnswering"}
INPUTS = {
    "fill-mask": ["paris is the [MASK] of france.", "the [MASK] eats [MASK] food.", "a [MASK]"],
    "feature-extraction": ["the cat eats food.", "paris", "john and mary walk home at night."],
    "sentence-embedding": ["the cat eats food.", "paris", "john and mary walk home at night."],
    "text-classification": ["the movie is good.", {"text": "the cat", "text_pair": "the dog plays"}, "bad"],
    "token-classification": ["john rides the horse in london.", "mary walks", "the eiffel tower is in paris."],
    "question-answering": [
        {"question": "where is the eiffel tower?", "context": "the eiffel tower is in paris. " * 12},
        {"question": "who rides?", "context": "john rides the horse."}],
}
CALLS = {  # extra keyword arguments per task, covering the options
    "fill-mask": [{}, {"top_k": 3, "targets": ["paris", "cat", "zebra"]}],
    "text-classification": [{}, {"top_k": None}],
    "token-classification": [{"aggregation_strategy": s, "ignore_labels": ()} for s in
                             ("none", "simple", "first", "max", "average")],
    "question-answering": [{"max_seq_len": 32, "doc_stride": 8}, {"top_k": 2}],
}


def _close(a, b, path="result"):
    """Same structure and strings; numbers to 1e-5."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, (np.ndarray, float)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0, err_msg=path)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def pipes(tiny_model_dirs):
    cache = {}

    def get(task, framework):
        require(MODULES[framework])
        if (task, framework) not in cache:
            cache[(task, framework)] = pipeline(task, model=tiny_model_dirs[HEAD[task]], framework=framework,
                                                batch_size=2)
        return cache[(task, framework)]
    return get


@pytest.mark.parametrize("task", sorted(HEAD))
def test_same_answers_in_every_framework(pipes, task):
    results = {}
    for framework in FRAMEWORKS:
        pipe = pipes(task, framework)
        results[framework] = [pipe(INPUTS[task], **kwargs) for kwargs in CALLS.get(task, [{}])]
    assert set(results) == set(FRAMEWORKS)  # never PyTorch compared with itself
    for framework, result in results.items():
        _close(results["pt"], result, f"{framework}")


def test_fill_mask_shapes_and_targets(pipes):
    fill = pipes("fill-mask", "pt")
    one = fill("paris is the [MASK] of france.", top_k=4)
    assert len(one) == 4 and {"score", "token", "token_str", "sequence"} <= one[0].keys()
    assert one[0]["score"] >= one[-1]["score"]
    assert "[MASK]" not in one[0]["sequence"] and one[0]["token_str"] in one[0]["sequence"]
    two = fill("the [MASK] eats [MASK] food.", top_k=2)
    assert len(two) == 2 and all(len(candidates) == 2 for candidates in two)
    targeted = fill("paris is the [MASK] of france.", targets=["city", "capital"])
    assert {c["token_str"] for c in targeted} == {"city", "capital"}
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        fill("no mask here")


def test_batching_keeps_input_order(pipes):
    embed = pipes("sentence-embedding", "pt")
    texts = ["a", "the cat eats food and the dog eats food.", "paris", "john and mary"]
    batched = embed(texts)
    singles = [embed(t) for t in texts]
    for b, s in zip(batched, singles):
        np.testing.assert_allclose(b, s, atol=1e-5)
        assert abs(np.linalg.norm(b) - 1) < 1e-5


def test_token_classification_offsets(pipes):
    ner = pipes("token-classification", "pt")
    text = "john rides the horse in london."
    for entity in ner(text, ignore_labels=()):
        assert entity["word"] == text[entity["start"]:entity["end"]].lower() or entity["word"].startswith("##")
    grouped = ner(text, aggregation_strategy="first", ignore_labels=())
    assert all(g["word"].replace(" ", "") == text[g["start"]:g["end"]].lower().replace(" ", "") for g in grouped)
    simple = ner(text, aggregation_strategy="simple", ignore_labels=())
    assert {g["start"] for g in simple} <= {e["start"] for e in ner(text, ignore_labels=())}


def test_question_answering_long_context(pipes):
    qa = pipes("question-answering", "pt")
    context = "the eiffel tower is in paris. " * 12
    answer = qa({"question": "where is the eiffel tower?", "context": context}, max_seq_len=32, doc_stride=8)
    assert answer["answer"] == context[answer["start"]:answer["end"]]
    assert 0 < answer["score"] <= 1
    assert len(qa.preprocess({"question": "where?", "context": context}, max_seq_len=32, doc_stride=8)) > 1


def test_text_classification_labels(pipes):
    clf = pipes("text-classification", "pt")
    best = clf("the movie is good.")
    assert isinstance(best, list) and len(best) == 1 and best[0]["label"].startswith("LABEL_")  # transformers v4
    assert isinstance(clf(["good", "bad"])[0], dict)
    assert len(clf("good", top_k=2)) == 2
    with pytest.raises(ValueError, match="function_to_apply"):
        clf("good", function_to_apply="softplus")
    assert clf("good", function_to_apply="SIGMOID")[0]["score"] < 1
    all_scores = clf("the movie is good.", top_k=None)
    assert [r["label"] for r in all_scores] != [] and {r["label"] for r in all_scores} == {"LABEL_0", "LABEL_1",
                                                                                          "LABEL_2"}
    assert abs(sum(r["score"] for r in all_scores) - 1) < 1e-6


def test_unknown_task_and_framework(tiny_model_dirs):
    with pytest.raises(ValueError, match="Unknown task"):
        pipeline("summarization", model=tiny_model_dirs["BertModel"])
    with pytest.raises(ValueError, match="Unknown framework"):
        pipeline("feature-extraction", model=tiny_model_dirs["BertModel"], framework="mxnet")


def test_question_answering_windows_overlap_by_doc_stride(pipes):
    qa = pipes("question-answering", "pt")
    context = " ".join(["the cat eats food"] * 20)
    rows = qa.preprocess({"question": "who eats?", "context": context}, max_seq_len=32, doc_stride=8)
    windows = [r.extra["first_token"] for r in rows]
    width = len(rows[0].input_ids) - rows[0].extra["context_start"] - 1
    assert all(b - a == width - 8 for a, b in zip(windows, windows[1:]))  # consecutive windows share 8 tokens
    with pytest.raises(ValueError, match="doc_stride"):
        qa.preprocess({"question": "who eats?", "context": context}, max_seq_len=32, doc_stride=width)
    with pytest.raises(ValueError, match="non-empty"):
        qa({"question": "who?", "context": "  "})


def test_question_answering_answers_are_whole_words(pipes):
    qa = pipes("question-answering", "pt")
    context = "john rides horses and plays music in london."
    for answer in qa({"question": "who rides?", "context": context}, top_k=5):
        start, end = answer["start"], answer["end"]
        # never cut inside a word: an answer starting (ending) on a letter has no letter before (after) it
        assert start == 0 or not (context[start].isalnum() and context[start - 1].isalnum())
        assert end == len(context) or not (context[end - 1].isalnum() and context[end].isalnum())


def test_sentence_embedding_honours_sentence_bert_config(tiny_model_dirs, tmp_path):
    require("bert_torch")
    import shutil
    folder = tmp_path / "st"
    shutil.copytree(tiny_model_dirs["BertModel"], folder)
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 8}')
    embed = pipeline("sentence-embedding", model=str(folder))
    assert embed.max_length == 8
    long_text = "the cat eats food and the dog eats food at home"
    assert len(embed.preprocess(long_text)[0].input_ids) == 8


def test_question_answering_takes_transformers_call_forms(pipes):
    qa = pipes("question-answering", "pt")
    item = {"question": "who rides a horse?", "context": "john rides a horse. mary plays music."}
    want = qa(item)
    assert qa(question=item["question"], context=item["context"]) == want
    assert qa(item["question"], item["context"]) == want
    assert qa(question=[item["question"]] * 2, context=item["context"]) == [want, want]
    with pytest.raises(ValueError, match="together"):
        qa(item, question="x")


def test_question_answering_adds_up_spans_that_read_the_same(pipes):
    """As transformers 4.57: candidates widened to the same words are one answer, their scores summed."""
    qa = pipes("question-answering", "pt")
    item = {"question": "who?", "context": "the walking man eats food. john rides."}
    unmerged = qa(item, top_k=40, align_to_words=False)
    merged = qa(item, top_k=40)
    texts = [a["answer"].lower() for a in merged]
    assert len(texts) == len(set(texts))
    total = sum(a["score"] for a in merged)
    assert total >= sum(a["score"] for a in unmerged[:len(merged)]) - 1e-9
    assert max(a["score"] for a in merged) >= max(a["score"] for a in unmerged)


@pytest.mark.parametrize("kwargs", [{"top_k": -3}, {"top_k": 0}, {"top_k": 2.5}, {"top_k": True}])
def test_numbers_are_validated(pipes, kwargs):
    fill = pipes("fill-mask", "pt")
    with pytest.raises(ValueError, match="top_k must be an integer"):
        fill("paris is the [MASK] of france.", **kwargs)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_transformers_device_convention(tiny_model_dirs, framework):
    """-1 is the CPU in every framework; an accelerator this machine lacks is an error, not a fallback."""
    require(MODULES[framework])
    folder = tiny_model_dirs["BertForMaskedLM"]
    cpu = pipeline("fill-mask", model=folder, framework=framework, device=-1)
    assert cpu("paris is the [MASK] of france.", top_k=1)
    with pytest.raises(ValueError, match="device"):
        pipeline("fill-mask", model=folder, framework=framework, device=7)


def test_without_framework_the_installed_one_is_used(tiny_model_dirs, monkeypatch):
    from bertzoo import adapters

    assert pipeline("fill-mask", model=tiny_model_dirs["BertForMaskedLM"]).framework == "pt"
    monkeypatch.setitem(adapters.REQUIRES, "pt", ("torch_absent_for_this_test",))
    assert pipeline("fill-mask", model=tiny_model_dirs["BertForMaskedLM"]).framework == "tf"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bfloat16_pipeline_stays_close_to_float32(tiny_model_dirs, framework):
    """pipeline(..., dtype="bfloat16") computes in bf16 in every framework; torch_dtype= is transformers' name."""
    require(MODULES[framework])
    folder = tiny_model_dirs["BertModel"]
    texts = ["paris is the capital of france.", "the man eats food."]
    full = pipeline("feature-extraction", model=folder, framework=framework)(texts)
    half = pipeline("feature-extraction", model=folder, framework=framework, dtype="bfloat16")(texts)
    for a, b in zip(full, half):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape and 0 < np.max(np.abs(a - b)) < 0.1
    if framework == "pt":
        import torch

        alias = pipeline("feature-extraction", model=folder, framework="pt", torch_dtype=torch.bfloat16)(texts)
        np.testing.assert_array_equal(np.asarray(alias[0]), np.asarray(half[0]))
    with pytest.raises(ValueError, match="dtype"):
        pipeline("feature-extraction", model=folder, framework=framework, dtype="int8")


def test_optimized_path_is_the_default_and_gives_the_plain_answers(tiny_model_dirs):
    """PyTorch pipelines run optimize_for_inference() (padding-free) by default; optimize=False the plain model."""
    require("bert_torch")
    folder = tiny_model_dirs["BertForTokenClassification"]
    texts = ["john rides a horse in london.", "mary plays music.", "the cat"]
    fast = pipeline("token-classification", model=folder, framework="pt", batch_size=3)
    plain = pipeline("token-classification", model=folder, framework="pt", batch_size=3, optimize=False)
    assert fast.loaded.model.bert._fast is not None and plain.loaded.model.bert._fast is None
    _close(fast(texts), plain(texts), "fast vs plain")


def test_flax_pipelines_pack_sequences_without_padding(tiny_model_dirs, monkeypatch):
    """Flax pipelines run packed rows (bert_flax.packing) by default, with the padded batch's answers."""
    require("bert_flax")
    from bert_flax import packing

    calls = []
    real = packing.packed_forward
    monkeypatch.setattr(packing, "packed_forward", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    folder = tiny_model_dirs["BertModel"]
    texts = ["paris is the capital of france.", "the man eats food.", "a"]
    packed = pipeline("feature-extraction", model=folder, framework="flax", batch_size=3)(texts)
    plain = pipeline("feature-extraction", model=folder, framework="flax", batch_size=3, optimize=False)(texts)
    assert calls == [3]
    _close(packed, plain, "packed vs padded")


def test_tensorflow_pipelines_skip_padding_by_default(tiny_model_dirs):
    require("bert_tf")
    folder = tiny_model_dirs["BertForQuestionAnswering"]
    item = {"question": "who rides a horse?", "context": "john rides a horse. mary plays music in london."}
    fast = pipeline("question-answering", model=folder, framework="tf")
    plain = pipeline("question-answering", model=folder, framework="tf", optimize=False)
    assert fast.loaded.model.skip_padding and not getattr(plain.loaded.model, "skip_padding", False)
    _close(fast([item, {**item, "question": "who?"}], top_k=3), plain([item, {**item, "question": "who?"}], top_k=3),
           "skip_padding vs plain")
