"""Training-step throughput (sequences/s) of BERT-base pre-training in each framework, against transformers 4.57.6
in the same run.

One step = forward + backward of ``BertForPreTraining`` (MLM + NSP loss) on a batch of 8 x 128, global-norm
clipping, AdamW (no decay on biases / LayerNorm weights) and the linear schedule; float32, dropout 0.1 as in
BERT, random weights from one schema state dict so every framework trains the same model, sdpa attention in
both torch models. ``torch`` and ``flax`` are what ``bertzoo train`` runs (MLM head only at the labelled
positions: same loss and gradients, fewer FLOPs); ``torch-dense`` and ``flax-dense`` are the models' own loss
(head on every position), the like-for-like comparison of the model code. The baseline is transformers'
``BertForPreTraining`` with the same optimizer recipe (``torch.optim.AdamW`` groups,
``get_linear_schedule_with_warmup``, ``clip_grad_norm_``).

``--host-memory retain`` (default): bertzoo's subjects keep freed host memory for reuse as ``bertzoo train``
does (``bert_core.host_memory``: no page faults on XLA's and torch's large per-step blocks); ``system`` measures
them on the C library's defaults, like the baseline (``--baseline-host-memory retain`` gives transformers' process
the setting too: like-for-like allocators).

Frameworks run interleaved, step by step, so load drifts on a shared machine hit them alike; after
``--warmup`` untimed steps each, ``--reps`` timed steps each; the median seconds/step is reported with
sequences/s and the ratio to transformers (``> 1`` = faster than transformers).

One function per framework: ``step_<name>(config, weights, batch, training) -> callable`` that runs one full
training step and returns once its results are computed (block on them: ``block_until_ready``, ``.numpy()``).
Add a framework by writing its function and listing it in ``STEPS``. Usage::

    .venv/bin/python bench/train_step.py [--frameworks torch,torch-dense,transformers] [--batch 8] [--seq 128]
                                         [--warmup 2] [--reps 3] [--layers 12] [--threads N] [--processes]
                                         [--host-memory retain|system]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("USE_TF", "0")  # transformers must not import TensorFlow for the torch baseline
os.environ.setdefault("USE_FLAX", "0")

from bert_core import BertConfig, host_memory  # noqa: E402
from bert_core.training import TrainingConfig, decays  # noqa: E402

BASELINE = "transformers"
Batch = dict[str, np.ndarray]
Step = Callable[[], object]


def base_config(layers: int = 12) -> BertConfig:
    """BERT-base (uncased vocabulary), dropout as trained."""
    return BertConfig(hidden_size=768, num_hidden_layers=layers, num_attention_heads=12, intermediate_size=3072,
                      vocab_size=30522, max_position_embeddings=512, attn_implementation="sdpa")


def random_weights(config: BertConfig, seed: int = 0) -> dict[str, np.ndarray]:
    import bert_torch
    return bert_torch.BertForPreTraining(config, seed=seed).schema_state_dict()


def make_batch(config: BertConfig, batch: int, seq: int, seed: int = 0) -> Batch:
    """Random ids, 15% of positions labelled for MLM, random NSP labels."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, config.vocab_size, (batch, seq)).astype(np.int64)
    labels = np.where(rng.random((batch, seq)) < 0.15, ids, -100)
    types = np.zeros((batch, seq), np.int64)
    types[:, seq // 2:] = 1
    return {"input_ids": ids, "attention_mask": np.ones((batch, seq), np.int64), "token_type_ids": types,
            "labels": labels, "next_sentence_label": rng.integers(0, 2, batch).astype(np.int64)}


# -- one step builder per framework -----------------------------------------------------------------------------
def step_torch(config: BertConfig, weights: dict[str, np.ndarray], batch: Batch, training: TrainingConfig,
               sparse_mlm: bool = True) -> Step:
    """bert_torch: ``bert_torch.train.train_step`` on ``training_module(model)`` (what ``bertzoo train --framework
    pt`` runs: the MLM head only at labelled positions, the same loss)."""
    import torch

    import bert_torch
    from bert_torch.train_state import build_optimizer, build_scheduler, train_step, training_module

    model = bert_torch.BertForPreTraining(config)
    model.load_schema_state_dict(weights)
    model = training_module(model, training, sparse_mlm=sparse_mlm)
    model.train()
    optimizer = build_optimizer(model, training)
    scheduler = build_scheduler(optimizer, training)
    device = torch.device("cpu")

    def step():
        loss, _ = train_step(model, optimizer, scheduler, [batch], training, device)
        return float(loss)
    return step


def step_torch_dense(config: BertConfig, weights: dict[str, np.ndarray], batch: Batch,
                     training: TrainingConfig) -> Step:
    """bert_torch with the model's own loss (MLM head on every position, like transformers)."""
    return step_torch(config, weights, batch, training, sparse_mlm=False)


def step_transformers(config: BertConfig, weights: dict[str, np.ndarray], batch: Batch,
                      training: TrainingConfig) -> Step:
    """transformers 4.57.6 ``BertForPreTraining`` with the usual recipe of its examples."""
    import torch
    import transformers

    hf_config = transformers.BertConfig(**{k: v for k, v in config.to_dict().items()
                                           if k not in ("attn_implementation", "torch_dtype")},
                                        attn_implementation="sdpa")
    model = transformers.BertForPreTraining(hf_config)
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    assert not unexpected and set(missing) <= {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}, \
        (missing, unexpected)
    model.tie_weights()
    model.train()
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [{"params": [p for n, p in named if decays(n)], "weight_decay": training.weight_decay},
         {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0}],
        lr=training.learning_rate, betas=(training.adam_beta1, training.adam_beta2), eps=training.adam_epsilon)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, training.warmup_steps, training.total_steps)
    tensors = {k: torch.from_numpy(v) for k, v in batch.items()}

    def step():
        loss = model(**tensors).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), training.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())
    return step


def step_tf(config: BertConfig, weights: dict[str, np.ndarray], batch: Batch, training: TrainingConfig) -> Step:
    """bert_tf: one ``fit`` step of what ``bertzoo train --framework tf`` runs (``bert_tf.train.TrainingModule``:
    MLM head only at the labelled positions; ``bert_tf.schedules.AdamW``), via ``train_on_batch``, in graph mode
    (not XLA); TensorFlow's default threads."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import bert_tf
    from bert_tf.schedules import build_optimizer
    from bert_tf.train import TrainingModule, schema_variables

    model = bert_tf.TFBertForPreTraining(config)
    model.load_schema_state_dict(weights)
    module = TrainingModule(model, sparse_mlm=True)
    module.compile(optimizer=build_optimizer(schema_variables(model), training), jit_compile=False)
    inputs = {k: v.astype(np.int32) for k, v in batch.items()}

    def step():
        return float(module.train_on_batch(inputs, return_dict=True)["step_loss"])
    return step


def step_flax(config: BertConfig, weights: dict[str, np.ndarray], batch: Batch, training: TrainingConfig,
              sparse_mlm: bool = True) -> Step:
    """bert_flax: the jitted step of ``bertzoo train --framework flax`` (``bert_flax.train_state.make_train_step``:
    optax clip_by_global_norm + AdamW, the batch as ``[1, rows, ...]`` micro-batches) on a one-device mesh; the MLM
    head only at the labelled positions (``PretrainingLoss`` with ``prediction_slots`` of the batch, as the trainer;
    the same loss); XLA's default threads."""
    import jax

    import bert_flax
    from bert_flax.mesh import build_mesh, global_batch
    from bert_flax.train_state import build_optimizer, init_state, make_train_step, state_shardings

    model = bert_flax.FlaxBertForPreTraining(config, _do_init=False)
    model.params = model.init_weights(jax.random.PRNGKey(0))
    model.load_schema_state_dict(weights)
    mesh = build_mesh(None, devices=jax.devices()[:1])
    tx = build_optimizer(model.params, training)
    shardings = state_shardings(model, tx, mesh)
    state = init_state(model, tx, shardings)
    inputs = {k: v[None] for k, v in batch.items()}
    step_fn = make_train_step(model, tx, training, shardings, mesh, {k: v.ndim for k, v in inputs.items()},
                              sparse_mlm=sparse_mlm)
    arrays = global_batch(inputs, mesh)
    key, count = jax.random.PRNGKey(0), [0]

    def step():
        state["params"], state["opt_state"], loss, _ = step_fn(state["params"], state["opt_state"], arrays,
                                                               jax.random.fold_in(key, count[0]))
        count[0] += 1
        jax.block_until_ready(state)  # the whole update, not only the loss (outputs can complete separately)
        return float(loss)
    return step


def step_flax_dense(config: BertConfig, weights: dict[str, np.ndarray], batch: Batch,
                    training: TrainingConfig) -> Step:
    """bert_flax with the model's own loss (MLM head on every position, like transformers)."""
    return step_flax(config, weights, batch, training, sparse_mlm=False)


STEPS: dict[str, Callable[[BertConfig, dict[str, np.ndarray], Batch, TrainingConfig], Step]] = {
    "torch": step_torch,
    "torch-dense": step_torch_dense,
    "transformers": step_transformers,
    "tf": step_tf,
    "flax": step_flax,
    "flax-dense": step_flax_dense,
}


def transformers_tf_step_seconds(layers: int, batch: Batch, warmup: int, reps: int) -> float | str:
    """transformers' TFBertForPreTraining step (tape, global-norm clip, AdamW, dropout as trained) in a Keras 2
    subprocess (``bench/transformers_tf.py``, shared with ``bench/tf_train_bench.py``): the median of ``reps``
    steps after ``warmup`` more, or why it could not run."""
    try:
        from transformers_tf import TransformersTFStep  # bench/ is sys.path[0] when this runs as a script
        hf = TransformersTFStep(layers, batch)
    except (ImportError, RuntimeError) as e:
        return f"unavailable: {e}"
    try:
        times = [hf.time(1) for _ in range(warmup + reps)]
    finally:
        hf.close()
    return statistics.median(times[warmup:])


def _timed_here(fn: Step) -> tuple[float, float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    loss = fn()
    return time.perf_counter() - start, time.process_time() - start_cpu, loss


def training_config(args: argparse.Namespace) -> TrainingConfig:
    return TrainingConfig(learning_rate=1e-4, warmup_steps=2, total_steps=1000, batch_size=args.batch,
                          max_seq_length=args.seq)


def subject(name: str, args: argparse.Namespace) -> Step:
    """``STEPS[name]`` built from scratch (``bench/procs.py`` runs it in its own process with ``--processes``);
    bertzoo's subjects first set the host allocator as ``bertzoo train --host-memory`` does."""
    host_memory.configure(getattr(args, "baseline_host_memory" if name == BASELINE else "host_memory", "system"))
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    config = base_config(args.layers)
    return STEPS[name](config, random_weights(config), make_batch(config, args.batch, args.seq),
                       training_config(args))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default="torch,torch-dense,transformers", help=f"comma-separated, from {', '.join(STEPS)}")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per framework")
    parser.add_argument("--reps", type=int, default=3, help="timed steps per framework")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--processes", action="store_true",
                        help="each framework in its own long-lived process (no shared allocator or thread pools)")
    parser.add_argument("--host-memory", default="retain", choices=host_memory.CHOICES,
                        help="bertzoo's subjects keep freed host memory as `bertzoo train` does by default "
                             "(bert_core.host_memory); transformers keeps the C library's default, except in one "
                             "shared process (no --processes), where the setting applies to every subject")
    parser.add_argument("--baseline-host-memory", default="system", choices=host_memory.CHOICES,
                        help="the same for transformers' process (retain: like-for-like allocators)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.frameworks.split(",") if n.strip()]
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        parser.error(f"unknown frameworks {unknown}; choose from {', '.join(STEPS)}")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)

    config = base_config(args.layers)
    batch = make_batch(config, args.batch, args.seq)
    if args.processes:
        from procs import Subject  # bench/ is sys.path[0] when this runs as a script
        subjects = {n: Subject(subject, n, args) for n in names}
        steps = {n: (lambda s=s: s.time(1)[0]) for n, s in subjects.items()}
    else:
        host_memory.configure(args.host_memory)
        weights = random_weights(config)
        training = training_config(args)
        built = {n: STEPS[n](config, weights, batch, training) for n in names}
        del weights
        steps = {n: (lambda fn=fn: _timed_here(fn)) for n, fn in built.items()}
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    losses: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(args.warmup + args.reps):
        for name in names:
            elapsed, elapsed_cpu, loss = steps[name]()
            losses[name].append(loss)
            if rep >= args.warmup:
                times[name].append(elapsed)
                cpu[name].append(elapsed_cpu)
    if args.processes:
        for process in subjects.values():
            process.close()
    print(f"BERT-base pre-training step ({args.layers} layers), batch {args.batch} x {args.seq}, float32, "
          f"{args.warmup} warmup + {args.reps} timed steps each, interleaved"
          + (", each framework in its own process" if args.processes else "")
          + (f"; host memory: {args.host_memory} for bertzoo, {args.baseline_host_memory} for transformers"
             if args.processes else f"; host memory: {args.host_memory} (whole process)"))
    print("wall: median seconds per step; cpu: median CPU seconds of this process per step (all threads; less "
          "sensitive to other load on a shared machine)")
    base = statistics.median(times[BASELINE]) if BASELINE in times else None
    base_cpu = statistics.median(cpu[BASELINE]) if BASELINE in cpu else None
    print(f"{'framework':<14}{'s/step':>9}{'seq/s':>9}{'vs transformers':>17}{'cpu s/step':>12}{'cpu ratio':>11}"
          f"   losses")
    for name in names:
        t, c = statistics.median(times[name]), statistics.median(cpu[name])
        ratio = f"{base / t:.2f}x" if base else "-"
        cpu_ratio = f"{base_cpu / c:.2f}x" if base_cpu else "-"
        print(f"{name:<14}{t:>9.3f}{args.batch / t:>9.2f}{ratio:>17}{c:>12.3f}{cpu_ratio:>11}   "
              f"{' '.join(f'{x:.4f}' for x in losses[name])}")
    if "tf" in names:
        hf_tf = transformers_tf_step_seconds(args.layers, batch, args.warmup, args.reps)
        if isinstance(hf_tf, str):
            print(f"transformers' TF (Keras 2 subprocess): {hf_tf}")
        else:
            t = statistics.median(times["tf"])
            print(f"transformers' TF (Keras 2 subprocess, run after the loop above): {hf_tf:.3f} s/step; "
                  f"bertzoo tf is {hf_tf / t:.2f}x its speed")


if __name__ == "__main__":
    main()
