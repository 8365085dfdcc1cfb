"""Packed vs unpacked pre-training: real (non-padding) tokens per second of full training steps, per framework.

Data: real English prose found on the machine (``bench/pretraining_data.py``'s corpus: package READMEs, licences,
/usr/share/doc), one document per source file, turned into MLM + NSP examples by ``bert_core.data`` exactly as
``bertzoo train`` does (Google's recipe: 10% short targets, random next segments, documents that end), tokenized
with the MiniLM uncased vocabulary (30522 tokens). Unpacked batches are ``bert_core.data.batches``; packed ones
``bert_core.data.packed_batches`` (up to 3 examples a row, best-fit decreasing) of the same examples.

Model: BERT-base shape scaled down to run in minutes on a CPU (``--layers 4 --hidden 256``, 4 heads, 30522
vocabulary, dropout 0.1), float32. A step is what the trainers run: ``bert_torch.train_state.train_step``
(``PretrainingLoss``: sparse MLM head, AdamW, clipping), ``bert_flax.train_state.make_train_step`` (jitted, sparse
MLM head at a fixed width per batch layout, the widest batch's ``prediction_slots``) and ``bert_tf.train``'s
``TrainingModule`` step through ``train_on_batch`` (the function ``fit`` runs, with ``train()``'s defaults:
``jit_compile=False``, so a tf.function graph with the MLM head on labelled positions only; ``bert_tf.schedules``
AdamW, clipping), with the same batch size for both modes; a packed row simply carries more real tokens.

The process keeps freed host memory (``bert_core.host_memory``), as ``bertzoo train`` does by default.

Modes alternate step by step (after ``--warmup`` untimed steps each), so load drifts on a shared machine hit both
alike; the ratio packed / unpacked of real tokens per second is measured in the same process, over all timed
steps and as the median of the per-round ratios (adjacent steps), and in process CPU time (``time.process_time``:
all threads of this process; much less sensitive to other processes' load than wall time). Also printed: the
padding share of each mode and what building the ``[batch, seq, seq]`` block-diagonal mask costs on the host
(numpy, shipped in the batch) against deriving it from ``example_ids`` inside the step (what the trainers do).
Usage::

    .venv/bin/python bench/packing.py [--frameworks torch,flax,tf] [--seq 512] [--batch 8] [--reps 5] [--megabytes 1]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from pretraining_data import build_corpus, load_tokenizer  # noqa: E402

from bert_core import BertConfig  # noqa: E402
from bert_core.data import PretrainingExamples, attention_mask_from_example_ids, batches, packed_batches  # noqa: E402
from bert_core.training import TrainingConfig  # noqa: E402

Batch = dict[str, np.ndarray]


def real_tokens(batch: Batch) -> int:
    return int(np.count_nonzero(batch["example_ids"] if "example_ids" in batch else batch["attention_mask"]))


def make_step_torch(bert_config: BertConfig, config: TrainingConfig, threads: int) -> Callable[[Batch], None]:
    import torch

    from bert_torch import BertForPreTraining
    from bert_torch.train_state import build_optimizer, build_scheduler, train_step, training_module

    torch.set_num_threads(threads)
    module = training_module(BertForPreTraining(bert_config, seed=0), config)
    module.train()
    optimizer = build_optimizer(module, config)
    scheduler = build_scheduler(optimizer, config)
    device = torch.device("cpu")

    def step(batch: Batch) -> None:
        loss, _ = train_step(module, optimizer, scheduler, [batch], config, device)
        loss.item()

    return step


def make_step_flax(bert_config: BertConfig, config: TrainingConfig, threads: int) -> Callable[[Batch], None]:
    del threads  # XLA's CPU thread pool is fixed when JAX starts
    import jax

    from bert_flax import FlaxBertForPreTraining
    from bert_flax.mesh import build_mesh, global_batch
    from bert_flax.train_state import build_optimizer, init_state, make_train_step, prediction_slots, state_shardings

    model = FlaxBertForPreTraining(bert_config, seed=0)
    mesh = build_mesh(None)
    tx = build_optimizer(model.params, config)
    shardings = state_shardings(model, tx, mesh)
    state = init_state(model, tx, shardings)
    step_fns = {}  # one jitted step per batch layout (packed, unpacked); they share the state
    key = jax.random.PRNGKey(0)
    widest = {tuple(sorted(mode[0])): max(prediction_slots(b["labels"]) for b in mode) for mode in ALL_BATCHES}

    def step(batch: Batch) -> None:
        nonlocal state
        local = {k: v[None] for k, v in batch.items()}
        layout = tuple(sorted(local))
        if layout not in step_fns:
            step_fns[layout] = make_train_step(model, tx, config, shardings, mesh,
                                               {k: v.ndim for k, v in local.items()})
        slots = widest[layout]  # one MLM width per layout: no compilation inside the timed steps
        params, opt, loss, _ = step_fns[layout](state["params"], state["opt_state"], global_batch(local, mesh), key,
                                                slots)
        state = {"params": params, "opt_state": opt}
        float(loss)

    return step


def make_step_tf(bert_config: BertConfig, config: TrainingConfig, threads: int) -> Callable[[Batch], None]:
    import bert_tf  # noqa: F401  (sets the Keras backend)
    import tensorflow as tf

    from bert_tf import train as tf_train
    from bert_tf.distributed import batch_fields
    from bert_tf.schedules import build_optimizer
    from bert_tf.training_module import TrainingModule, schema_variables

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    model = tf_train.build_model(config, model_config=bert_config)  # seeded by config.seed, in the strategy scope
    module = TrainingModule(model, sparse_mlm=True)  # train()'s default off TPUs without jit_compile
    module.compile(optimizer=build_optimizer(schema_variables(model), config), jit_compile=False)

    def step(batch: Batch) -> None:  # the micro-batch make_dataset feeds fit: the step's fields, int32
        inputs = {k: np.asarray(batch[k], np.int32) for k in batch_fields(batch, config)}
        float(module.train_on_batch(inputs, return_dict=True)["step_loss"])

    return step


STEPS = {"torch": make_step_torch, "flax": make_step_flax, "tf": make_step_tf}
ALL_BATCHES: list[list[Batch]] = []  # [unpacked, packed], set in main


def cycle(items: list[Batch]) -> Iterator[Batch]:
    while True:
        yield from items


def mask_costs(packed: list[Batch], seq: int) -> str:
    """ms per batch: the bool mask built in numpy (and its bytes), against the torch derivation in the step."""
    import torch

    t0 = time.perf_counter()
    for b in packed:
        torch.from_numpy(attention_mask_from_example_ids(b["example_ids"]))
    host = (time.perf_counter() - t0) / len(packed) * 1e3
    ids = [torch.from_numpy(b["example_ids"]).long() for b in packed]
    t0 = time.perf_counter()
    for i in ids:
        i[:, :, None] == i[:, None, :]  # noqa: B015
    derived = (time.perf_counter() - t0) / len(packed) * 1e3
    size = packed[0]["example_ids"].shape[0] * seq * seq
    return (f"mask: numpy-built bool [b, s, s] {host:.2f} ms/batch + {size / 1e6:.1f} MB to ship per batch; "
            f"derived from example_ids in the step {derived:.2f} ms/batch ({size // seq * 8 / 1e3:.1f} kB shipped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default="torch,flax,tf")
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2, help="torch and TF intra-op threads")
    args = parser.parse_args()
    from bert_core import host_memory
    host_memory.retain_freed_memory()  # as `bertzoo train` does by default (both modes share this process)
    tokenizer, tokenizer_name = load_tokenizer("auto")
    with tempfile.TemporaryDirectory() as tmp:
        paths, size = build_corpus(pathlib.Path(tmp), args.megabytes)
        examples = list(PretrainingExamples(paths, tokenizer, max_seq_length=args.seq, seed=0))
    unpacked = list(batches(examples, args.batch, drop_remainder=True))
    packed = list(packed_batches(examples, args.batch, args.seq, pad_token_id=tokenizer.pad_token_id))
    ALL_BATCHES[:] = [unpacked, packed]
    fill_u = sum(map(real_tokens, unpacked)) / (len(unpacked) * args.batch * args.seq)
    fill_p = sum(map(real_tokens, packed)) / (len(packed) * args.batch * args.seq)
    per_row = np.mean([np.count_nonzero(b["next_sentence_label"] != -100) / args.batch for b in packed])
    print(f"corpus {size / 1e6:.2f} MB, {len(examples)} examples of max {args.seq} tokens ({tokenizer_name}); "
          f"unpacked: {len(unpacked)} batches, {1 - fill_u:.1%} padding; packed: {len(packed)} batches, "
          f"{per_row:.2f} examples/row, {1 - fill_p:.1%} padding; ideal speed-up {fill_p / fill_u:.2f}x")
    bert_config = BertConfig(hidden_size=args.hidden, num_hidden_layers=args.layers,
                             num_attention_heads=args.hidden // 64, intermediate_size=4 * args.hidden,
                             vocab_size=30522, max_position_embeddings=max(512, args.seq),
                             attn_implementation="sdpa")
    config = TrainingConfig(batch_size=args.batch, max_seq_length=args.seq, total_steps=10_000, warmup_steps=10)
    try:
        import torch
        torch.set_num_threads(args.threads)
        print(mask_costs(packed, args.seq))
    except ImportError:
        pass
    for name in args.frameworks.split(","):
        step = STEPS[name](bert_config, config, args.threads)
        data = {"unpacked": cycle(unpacked), "packed": cycle(packed)}
        seconds = {"unpacked": 0.0, "packed": 0.0}
        cpu = {"unpacked": 0.0, "packed": 0.0}
        tokens = {"unpacked": 0, "packed": 0}
        paired = []  # per round: packed rate / unpacked rate of two adjacent steps
        for r in range(args.warmup + args.reps):
            rates = {}
            for mode in ("unpacked", "packed"):
                batch = next(data[mode])
                t0, c0 = time.perf_counter(), time.process_time()
                step(batch)
                took = time.perf_counter() - t0
                rates[mode] = real_tokens(batch) / took
                if r >= args.warmup:
                    seconds[mode] += took
                    cpu[mode] += time.process_time() - c0
                    tokens[mode] += real_tokens(batch)
            if r >= args.warmup:
                paired.append(rates["packed"] / rates["unpacked"])
        rate = {m: tokens[m] / seconds[m] for m in seconds}
        cpu_ratio = tokens["packed"] / cpu["packed"] / (tokens["unpacked"] / cpu["unpacked"])
        print(f"{name}: unpacked {rate['unpacked']:,.0f} real tokens/s ({seconds['unpacked'] / args.reps:.2f} "
              f"s/step), packed {rate['packed']:,.0f} real tokens/s ({seconds['packed'] / args.reps:.2f} s/step): "
              f"packed / unpacked = {rate['packed'] / rate['unpacked']:.2f}x wall (median of {args.reps} paired "
              f"rounds {float(np.median(paired)):.2f}x, range {min(paired):.2f}-{max(paired):.2f}); "
              f"{cpu_ratio:.2f}x in process CPU time")

if __name__ == "__main__":
    main()
