"""Keep TensorFlow's and XLA's C++ start-up logging off the user's terminal.

TensorFlow writes lines such as ``I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers`` and
``WARNING: All log messages before absl::InitializeLog() is called ...`` straight to file descriptor 2 from C++,
before ``TF_CPP_MIN_LOG_LEVEL`` is read, so no environment variable silences them. ``filtered_stderr()`` puts a
pipe in front of descriptor 2 for the life of a command and drops exactly those lines (absl's
``[IWEF]mmdd hh:mm:ss.uuuuuu thread file:line]`` prefix, the InitializeLog banner and the CPU-feature
notice's second line); every other byte reaches
the real stderr unchanged and in order.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

ABSL_LINE = re.compile(rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] |WARNING: All log messages before "
                       rb"absl::InitializeLog\(\) is called are written to STDERR|To enable the following "
                       rb"instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$)")


def _pump(read_fd: int, write_fd: int) -> None:
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not ABSL_LINE.match(line))
            if kept:
                os.write(write_fd, kept)
    if pending and not ABSL_LINE.match(pending):
        os.write(write_fd, pending)


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Filter absl / TensorFlow C++ log lines out of file descriptor 2 while the block runs."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreter): nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, saved), daemon=True, name="bertzoo-stderr-filter")
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump drains what is left and stops
        pump.join(timeout=5)
        os.close(saved)
