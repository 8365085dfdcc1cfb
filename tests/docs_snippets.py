"""Run the ```python blocks of a Markdown page, so documentation examples stay true.

``python_blocks(path)`` returns each block's first line number and code; ``run_python_blocks(path)`` executes them
top to bottom in one namespace (a page reads like a notebook) and, on failure, names the page and line. A block
whose fence line is preceded by ``<!-- no-run -->`` is skipped (for examples that need real files or a network).
"""

from __future__ import annotations

import pathlib
import re
import traceback
from typing import Any

_FENCE = re.compile(r"^(?P<indent> *)```python\s*$")
NO_RUN = "<!-- no-run -->"


def python_blocks(path: str | pathlib.Path, section: str | None = None) -> list[tuple[int, str]]:
    """``(line number of the first code line, code)`` for every ```python block, indentation removed; with
    ``section``, only the blocks under the ``## <section>`` heading (up to the next ``## ``)."""
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    first, last = 0, len(lines)
    if section is not None:
        first = lines.index(f"## {section}")
        last = next((j for j in range(first + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
    blocks, i = [], first
    while i < last:
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, start = len(m["indent"]), i + 1
        skip = i > 0 and lines[i - 1].strip() == NO_RUN
        i = start
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        if i == len(lines):
            raise ValueError(f"{path}:{start}: ```python block is not closed.")
        if not skip:
            blocks.append((start + 1, "\n".join(line[indent:] for line in lines[start:i]) + "\n"))
        i += 1
    return blocks


def run_python_blocks(path: str | pathlib.Path, namespace: dict[str, Any] | None = None,
                      section: str | None = None) -> dict[str, Any]:
    """Execute the page's blocks (of ``section`` if given) in order in one namespace; raise AssertionError naming
    ``page:line`` on failure."""
    namespace = {"__name__": "__docs__"} if namespace is None else namespace
    for line, code in python_blocks(path, section):
        try:
            exec(compile(code, f"{path}:{line}", "exec"), namespace)  # noqa: S102 (our own documentation)
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"{path}, block at line {line} failed:\n{traceback.format_exc()}") from exc
    return namespace
