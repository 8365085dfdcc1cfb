"""Run in a subprocess by test_transformers_compat.py: load our converted folders with transformers 4.57.6.

argv[1]: framework (pt, tf, flax, tf1); stdin: JSON list of [head, folder]. Prints one JSON object: for each
"head|folder", the max abs difference of each reference output, or the error text.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tests.conftest import REFERENCE_FIELDS, TINY, reference_inputs  # noqa: E402


def main() -> None:
    framework = sys.argv[1]
    jobs = json.load(sys.stdin)
    import transformers

    with np.load(TINY / "reference_outputs.npz") as z:
        reference = {k: z[k] for k in z.files}
    results = {}
    for head, folder in jobs:
        try:
            inputs = reference_inputs(reference, head)
            if framework in ("pt", "tf1"):
                import torch

                cls = getattr(transformers, head)
                if framework == "tf1":
                    from transformers.models.bert.modeling_bert import load_tf_weights_in_bert

                    config = transformers.BertConfig.from_json_file(os.path.join(folder, "bert_config.json"))
                    model = cls(config)
                    load_tf_weights_in_bert(model, config, os.path.join(folder, "bert_model.ckpt"))
                else:
                    model = cls.from_pretrained(folder)
                model.eval()
                with torch.no_grad():
                    kwargs = {"use_cache": False} if head == "BertLMHeadModel" else {}
                    out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, **kwargs)
                out = {k: v.numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}
            elif framework == "tf":
                model = getattr(transformers, "TF" + head).from_pretrained(folder)
                out = model({k: v.astype(np.int32) for k, v in inputs.items()}, training=False)
                out = {k: np.asarray(v) for k, v in out.items() if not isinstance(v, tuple)}
            else:
                name = "FlaxBertForCausalLM" if head == "BertLMHeadModel" else "Flax" + head
                model = getattr(transformers, name).from_pretrained(folder)
                out = model(**{k: v.astype(np.int32) for k, v in inputs.items()})
                out = {k: np.asarray(v) for k, v in out.items() if not isinstance(v, tuple)}
            results[f"{head}|{folder}"] = {f: float(np.max(np.abs(out[f] - reference[f"{head}.{f}"])))
                                           for f in REFERENCE_FIELDS[head]}
        except Exception as e:  # noqa: BLE001 - reported to the test
            results[f"{head}|{folder}"] = f"{type(e).__name__}: {e}"
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main()
