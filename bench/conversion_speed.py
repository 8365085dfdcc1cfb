"""Checkpoint conversion speed and memory between every pair of formats, against plain file copies.

A random BERT-base-sized model (BertForPreTraining, ~110M float32 parameters, ~440 MB) is written once in each
source format (safetensors, bin, flax msgpack, tf h5, tf1). Then every (source, target) pair is converted with
``conversion.convert`` in a fresh subprocess, which measures in the same run:

- baseline: ``shutil.copyfile`` of the source weight file(s) to a new file, then reading the copy (16 MiB reads);
  best of 3;
- conversion wall time, best of 3, interleaved with the baseline runs (imports excluded: the frameworks a pair
  needs are imported, and TensorFlow's runtime started, before the clock starts);
- peak memory: the process's peak RSS during the conversion (``VmHWM``, reset through ``/proc/self/clear_refs``
  before each run; this is ``ru_maxrss`` for the run alone, which a subprocess would otherwise inherit from its
  parent) minus its RSS just before converting. File pages a reader maps count while they are resident.

Limits (issue 6): time <= 3x the baseline, peak memory <= 2x the checkpoint size. Pairs whose format modules are
missing are skipped. Usage::

    .venv/bin/python bench/conversion_speed.py [--formats safetensors,bin,flax,tf,tf1] [--layers 12] [--dir /tmp/x]
"""

from __future__ import annotations

import argparse
import gc
import glob
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT  # the repository root replaces bench/ on the path
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FORMATS = ("safetensors", "bin", "flax", "tf", "tf1")
_NEEDS = {"bin": ("torch",), "tf1": ("tensorflow",)}
_WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.msgpack", "*.h5", "*.ckpt.index", "*.ckpt.data-*")
TIME_LIMIT, MEMORY_LIMIT = 3.0, 2.0


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0); without it the peak falls back to ru_maxrss."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_bytes() -> int:
    try:
        return _status("VmHWM")
    except (OSError, RuntimeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _weight_files(folder: str) -> list[str]:
    return sorted({p for g in _WEIGHT_GLOBS for p in glob.glob(os.path.join(folder, g))})


def worker(src: str, dst: str, to: str, src_format: str) -> dict:
    """Runs in a subprocess: baseline copy + read, then the conversion; returns timings and memory."""
    for name in {*_NEEDS.get(src_format, ()), *_NEEDS.get(to, ())}:
        __import__(name)
    for name in ("h5py", "msgpack", "ml_dtypes", "tqdm"):  # file libraries the format modules import lazily
        if importlib.util.find_spec(name):
            __import__(name)
    import conversion  # noqa: F401
    import conversion.formats as formats

    for fmt in (src_format, to):
        formats.format_module(fmt)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].constant(0)  # start TF's runtime outside the clock
    files = _weight_files(src)
    size = sum(os.path.getsize(f) for f in files)
    baselines, times, peaks = [], [], []
    for run in range(3):  # interleaved, so load from other processes hits both alike; best of 3 each
        scratch = dst + ".copy"
        os.makedirs(scratch)
        t0 = time.perf_counter()
        for f in files:
            copy = os.path.join(scratch, os.path.basename(f))
            shutil.copyfile(f, copy)
            with open(copy, "rb") as fh:
                while fh.read(16 * 2**20):
                    pass
        baselines.append(time.perf_counter() - t0)
        shutil.rmtree(scratch)
        out = dst if run == 0 else dst + ".again"
        gc.collect()
        _reset_peak()
        rss0 = _status("VmRSS")
        t0 = time.perf_counter()
        conversion.convert(src, out, to)
        times.append(time.perf_counter() - t0)
        peaks.append(_peak_bytes() - rss0)
        if run:
            shutil.rmtree(out)
    return {"size": size, "baseline_s": min(baselines), "convert_s": min(times), "peak_bytes": max(max(peaks), 0)}


def make_sources(root: str, formats: list[str], layers: int) -> dict[str, str]:
    import numpy as np

    from bert_core.config import BertConfig
    from conversion import save_state_dict
    from conversion.heads import expected_shapes

    config = BertConfig(num_hidden_layers=layers, architectures=["BertForPreTraining"])
    shapes, optional = expected_shapes(config, "BertForPreTraining")
    rng = np.random.default_rng(0)
    sd = {k: rng.standard_normal(s, dtype=np.float32) * 0.02 for k, s in shapes.items() if k not in optional}
    n = sum(v.size for v in sd.values())
    print(f"random BertForPreTraining: {layers} layers, {n / 1e6:.1f}M parameters, {n * 4 / 2**20:.0f} MiB float32")
    out = {}
    for fmt in formats:
        folder = os.path.join(root, "src-" + fmt)
        save_state_dict(sd, folder, fmt, head="BertForPreTraining")
        config.save_pretrained(folder)
        out[fmt] = folder
    return out


def available(fmt: str) -> bool:
    from conversion.formats import FORMATS as REGISTRY

    return importlib.util.find_spec(REGISTRY[fmt][0]) is not None and all(
        importlib.util.find_spec(m) is not None for m in _NEEDS.get(fmt, ()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated formats (default: all five)")
    parser.add_argument("--layers", type=int, default=12, help="encoder layers (default 12: BERT-base)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: a new temporary folder)")
    parser.add_argument("--worker", nargs=4, metavar=("SRC", "DST", "TO", "SRC_FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker)))
        return 0
    formats = [f for f in args.formats.split(",") if f]
    skipped = [f for f in formats if not available(f)]
    formats = [f for f in formats if f not in skipped]
    if skipped:
        print(f"skipped (module or framework missing): {', '.join(skipped)}")
    root = args.dir or tempfile.mkdtemp(prefix="bertzoo-bench-conversion-")
    sources = make_sources(root, formats, args.layers)
    header = f"{'source':<12} {'target':<12} {'MiB':>6} {'copy s':>7} {'convert s':>9} {'time x':>7} " \
             f"{'peak MiB':>9} {'mem x':>6}  verdict"
    print(header, flush=True)
    print("-" * len(header))
    failures = 0
    for src_fmt in formats:
        for to in formats:
            if to == src_fmt:
                continue
            dst = os.path.join(root, f"{src_fmt}-to-{to}")
            shutil.rmtree(dst, ignore_errors=True)
            proc = subprocess.run([sys.executable, __file__, "--worker", sources[src_fmt], dst, to, src_fmt],
                                  capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if not lines:
                print(f"{src_fmt:<12} {to:<12} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
                failures += 1
                continue
            r = json.loads(lines[-1][len("RESULT "):])
            time_x, mem_x = r["convert_s"] / r["baseline_s"], r["peak_bytes"] / r["size"]
            ok = time_x <= TIME_LIMIT and mem_x <= MEMORY_LIMIT
            failures += not ok
            verdict = "ok" if ok else "OVER LIMIT"
            print(f"{src_fmt:<12} {to:<12} {r['size'] / 2**20:>6.0f} {r['baseline_s']:>7.2f} {r['convert_s']:>9.2f} "
                  f"{time_x:>7.2f} {r['peak_bytes'] / 2**20:>9.0f} {mem_x:>6.2f}  {verdict}", flush=True)
            shutil.rmtree(dst, ignore_errors=True)
    print(f"limits: time x <= {TIME_LIMIT} (convert / (copy + read)), mem x <= {MEMORY_LIMIT} (peak / checkpoint "
          "size)")
    if not args.dir:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
