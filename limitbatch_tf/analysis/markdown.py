"""Markdown for the experiments' REPORT.md files (no TensorFlow import).

A report is hand-written prose around one generated part between two
markers; the experiments' ``report.py`` scripts rewrite only that part, so
the discussion stays where its author put it.
"""
from __future__ import annotations

import os

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"


class MarkersError(ValueError):
    """The report file lacks the generated part's markers."""


def table(header, rows) -> str:
    """A Markdown table: ``header`` and one line per row (cells str()-ed)."""
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def replace_generated(path: str, body: str, title: str) -> None:
    """Writes ``body`` between the markers of the report at ``path`` (a new
    report titled ``title`` when the file does not exist yet).

    Raises:
      MarkersError: the file exists without both markers (nothing written).
    """
    text = (open(path).read() if os.path.exists(path)
            else f"# {title}\n\n{BEGIN}\n{END}\n")
    if BEGIN not in text or END not in text:
        raise MarkersError(f"{path} lacks the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{body}\n{END}{tail}")
