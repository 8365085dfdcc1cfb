"""``bertzoo train``: one command line for PyTorch, TensorFlow and Flax training.

The parser and the framework-free pieces (``training_config``, ``model_config``, ``train_data``) live here; each
framework's ``<package>.train.main(args)`` does the rest and is imported only when chosen, so ``bertzoo train
--framework flax`` never imports torch.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from bert_core import host_memory, train_args
from bert_core.training import TASKS, TrainingConfig
from bertzoo.adapters import FRAMEWORKS, get_adapter

STRATEGIES = ("auto", "none", "ddp", "fsdp", "mirrored", "multi-worker", "tpu")

EPILOG = """\
data:
  pretraining     --train-files are plain text: one sentence a line, documents separated by blank lines
                  (tokenized with --tokenizer, default the --model folder; masking as bert_core.data),
                  or .npz files of ready examples (input_ids, attention_mask, token_type_ids, labels,
                  next_sentence_label).
  fine-tuning     --train-files are .npz files of equal-length arrays: input_ids, attention_mask,
                  token_type_ids and the labels: "labels" (sequence: [n]; token: [n, seq], -100 ignored) or
                  "start_positions" and "end_positions" (question-answering).

examples:
  bertzoo train --task pretraining --config bert-base.json --tokenizer vocab/ \\
      --train-files wiki_*.txt --output-dir out/ --steps 100000 --batch-size 256 --lr 1e-4 --warmup-steps 10000
  torchrun --nproc-per-node=8 -m bertzoo.cli train --framework pt --strategy fsdp --bf16 ...
  bertzoo train --framework flax --task sequence-classification --model bert-base/ --num-labels 2 \\
      --train-files train.npz --output-dir out/ --steps 3000 --batch-size 32 --lr 2e-5 --warmup-steps 300

See docs/training.md for several GPUs (torchrun), TPU pods (Flax) and TF distribution strategies.
"""


def add_train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``bertzoo train`` on the CLI's subparsers."""
    defaults = TrainingConfig()
    p = sub.add_parser(
        "train", help="pre-train or fine-tune a BERT model (PyTorch, TensorFlow or Flax)",
        description=textwrap.fill("Train a BERT head: pre-training (masked LM + next sentence prediction) from text files, or "
                    "fine-tuning (sequence / token classification, question answering) from .npz arrays. AdamW "
                    "(no weight decay on biases and LayerNorm weights), linear warmup then linear decay to 0, "
                    "gradient clipping and accumulation; the same step in every framework. Writes the model "
                    "(save_pretrained layout) and the optimizer state for --resume-from into --output-dir.", 100, break_on_hyphens=False),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", default="pt", choices=FRAMEWORKS,
                   help="pt (PyTorch; DDP / FSDP2 under torchrun), tf (Keras 3; tf.distribute strategies), "
                        "flax (JAX; TPU pods). Default: pt")
    p.add_argument("--task", default=defaults.task, choices=TASKS, help="what to train (default: pretraining)")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", metavar="FOLDER", help="start from this pretrained model folder")
    model.add_argument("--config", metavar="JSON", help="start from random weights with this config.json")
    p.add_argument("--train-files", nargs="+", required=True, metavar="FILE",
                   help="training data: text files (pretraining) or .npz files (fine-tuning); see below")
    p.add_argument("--output-dir", required=True, help="where the final model and checkpoints go")
    p.add_argument("--tokenizer", metavar="FOLDER", default=None,
                   help="tokenizer folder for pretraining text (default: the --model folder)")
    p.add_argument("--num-labels", type=int, default=None,
                   help="classes of a classification head (default: the model config's)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=defaults.total_steps, help="optimizer steps (default: %(default)s)")
    g.add_argument("--batch-size", type=int, default=defaults.batch_size,
                   help="global batch per optimizer step, over all processes and accumulation (default: "
                        "%(default)s)")
    g.add_argument("--lr", type=float, default=defaults.learning_rate, help="peak learning rate (default: %(default)s)")
    g.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps,
                   help="linear warmup steps (default: %(default)s)")
    g.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="(default: %(default)s)")
    g.add_argument("--adam-betas", type=float, nargs=2, default=(defaults.adam_beta1, defaults.adam_beta2),
                   metavar=("B1", "B2"), help="(default: %(default)s)")
    g.add_argument("--adam-eps", type=float, default=defaults.adam_epsilon, help="(default: %(default)s)")
    g.add_argument("--grad-accum", type=int, default=defaults.gradient_accumulation_steps,
                   help="micro-batches per step on each process (default: %(default)s)")
    g.add_argument("--max-grad-norm", type=float, default=defaults.max_grad_norm,
                   help="clip gradients to this global norm, 0: off (default: %(default)s)")
    g.add_argument("--seq-len", type=int, default=defaults.max_seq_length,
                   help="tokens per sequence (pretraining examples; default: %(default)s)")
    g.add_argument("--pack", action="store_true",
                   help="pretraining: pack up to 3 examples per row (block-diagonal attention; less padding)")
    g.add_argument("--bf16", action="store_true", help="bfloat16 compute with float32 master weights")
    g.add_argument("--seed", type=int, default=defaults.seed, help="(default: %(default)s)")
    r = p.add_argument_group("run")
    r.add_argument("--log-every", type=int, default=defaults.log_every, help="(default: %(default)s)")
    r.add_argument("--save-every", type=int, default=defaults.save_every,
                   help="write checkpoint-<step> folders this often, 0: only at the end (default: %(default)s)")
    r.add_argument("--resume-from", metavar="FOLDER", default=None,
                   help="continue a run from its output dir or a checkpoint-<step> folder")
    r.add_argument("--strategy", default="auto", choices=STRATEGIES,
                   help="auto: pt = DDP under torchrun, else one device; tf = multi-worker under TF_CONFIG, TPU "
                        "with TPU_NAME, mirrored over several GPUs. ddp: data parallel (pt DDP; tf mirrored or "
                        "multi-worker). fsdp: pt FSDP2 fully_shard. mirrored, multi-worker, tpu: tf.distribute "
                        "strategies. none: one device")
    r.add_argument("--device", default=None, help="pt: e.g. cpu, cuda:0 (default: cuda:LOCAL_RANK or cpu)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--host-memory", default="retain", choices=host_memory.CHOICES,
                   help="retain: keep freed host memory in the process for the next step's reuse instead of "
                        "returning it to the system and faulting it back in (glibc; see bert_core.host_memory); "
                        "system: the C library's defaults (default: %(default)s)")
    f = p.add_argument_group("flax (--framework flax)")
    f.add_argument("--mesh", default=None, metavar="AXES",
                   help="device mesh over all devices, e.g. data=4,model=2 (data parallel x tensor parallel; "
                        "-1 or a missing axis takes the devices left; default: data parallel on every device)")
    f.add_argument("--scan-layers", action="store_true", help="one nn.scan over the encoder layers (faster compile)")
    f.add_argument("--remat", action="store_true", help="recompute layer activations in the backward pass")
    f.add_argument("--distributed", action="store_true",
                   help="several hosts (TPU pod slice): jax.distributed.initialize() first (coordinator from "
                        "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID, or auto-detected on Cloud TPU)")
    p.set_defaults(func=run_train)
    return p


def run_train(args: argparse.Namespace) -> int:
    """Dispatch to the chosen framework's ``train.main(args)``."""
    try:
        train_args.training_config(args)
    except ValueError as e:
        print(f"bertzoo train: {e}", file=sys.stderr)
        return 2
    try:
        adapter = get_adapter(args.framework)
    except ImportError as e:  # the framework is not installed: the message names the extra
        print(f"bertzoo train: {e}", file=sys.stderr)
        return 2
    host_memory.configure(args.host_memory)  # before the framework's first computation
    return adapter.train(args)
