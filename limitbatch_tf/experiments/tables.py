"""CSV and Markdown tables of trials, one row per trial."""
from __future__ import annotations

import csv
import json
import os


def write_csv(rows, path: str) -> None:
    """Writes ``rows`` (dicts with the same keys) to a CSV file, atomically."""
    columns = list(rows[0]) if rows else []
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


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
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(payload, path: str) -> None:
    write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", path)
