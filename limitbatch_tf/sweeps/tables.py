"""CSV and Markdown tables of trials, one row per trial."""
from __future__ import annotations

import csv
import io

from limitbatch_tf import rundir


def write_csv(rows, path: str) -> None:
    """Writes ``rows`` (dicts with the same keys) to a CSV file, atomically."""
    columns = list(rows[0]) if rows else []
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    rundir.write_atomic(path, text.getvalue())


def markdown(rows, digits: int = 4) -> str:
    """A GitHub Markdown table of ``rows``; floats to ``digits`` significant
    digits (``rows`` are dicts with the same keys, in column order)."""
    if not rows:
        return "(no trials)\n"
    columns = list(rows[0])

    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}g}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_text(text: str, path: str) -> None:
    rundir.write_atomic(path, text)


def write_json(payload, path: str) -> None:
    rundir.write_json(path, payload)
