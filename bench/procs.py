"""One benchmark subject per long-lived process, timed on request (``--processes`` in the bench scripts).

Frameworks sharing a process share its allocator, page cache churn and idle thread pools: measured here, a Flax
training step ran 1.6x slower beside transformers' and bert_torch's (8 GB resident, millions of minor page faults)
than beside either alone. ``Subject(factory, *args)`` builds ``factory(*args)`` (a zero-argument callable that
returns once its work is done) in a spawned child; ``subject.time(n)`` runs it ``n`` times there and returns
``[(wall seconds, child CPU seconds, result), ...]``, so callers still alternate subjects round by round.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable


def _serve(factory: Callable[..., Callable[[], object]], args: tuple, conn) -> None:
    try:
        fn = factory(*args)
    except Exception as e:  # noqa: BLE001  (reported to the parent, which raises)
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", None))
    while (n := conn.recv()) is not None:
        out = []
        for _ in range(n):
            start, start_cpu = time.perf_counter(), time.process_time()
            result = fn()
            out.append((time.perf_counter() - start, time.process_time() - start_cpu, result))
        conn.send(out)
    conn.close()


class Subject:
    """``factory(*args)`` in its own spawned process (``factory`` must be importable: a module-level function)."""

    def __init__(self, factory: Callable[..., Callable[[], object]], *args) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(factory, args, child), daemon=True)
        self.process.start()
        status, message = self.conn.recv()
        if status != "ready":
            self.process.join(timeout=10)
            raise RuntimeError(f"{getattr(factory, '__name__', factory)}{args}: {message}")

    def time(self, n: int = 1) -> list[tuple[float, float, object]]:
        self.conn.send(n)
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(timeout=30)
