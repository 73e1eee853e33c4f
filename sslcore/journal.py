"""Each run's journal: what the store records about a run, also appended as JSON lines to ``<run>/journal.jsonl``.

``runs.sqlite`` is an index; the run folders are the truth. A deleted or damaged database is rebuilt from them
(``store_repair``): ``config.json`` says what the run is, ``checkpoints/`` how far it got, and this journal holds
the rest — status changes, every metric row, the snapshot summaries and the evaluations — so nothing is lost.

Append-only and line-buffered: a process killed mid-write leaves at most one torn last line, which ``read`` skips.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JOURNAL = "journal.jsonl"


def append(run_dir: Path, kind: str, **fields: Any) -> None:
    """Add one record (``kind``: status | metrics | snapshot | eval | truncate). Raises OSError (disk full,
    read-only folder) for the store to report; a run folder deleted by hand has nothing left to journal for."""
    record = {"kind": kind, "time": time.time(), **fields}
    line = json.dumps(record, default=_plain, separators=(",", ":")) + "\n"
    try:
        with open(run_dir / JOURNAL, "a", encoding="utf-8") as f:
            f.write(line)
    except FileNotFoundError:
        if run_dir.is_dir():
            raise


def read(run_dir: Path) -> Iterator[dict[str, Any]]:
    """The records in order; a torn or unreadable line (a write cut short by a kill or a full disk) is skipped."""
    path = run_dir / JOURNAL
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("kind"), str):
                yield record


def finite(values: dict[str, float]) -> dict[str, float | None]:
    """Metric values as JSON can hold them: NaN and ±inf become null (the store keeps them as NULL too)."""
    return {k: (float(v) if math.isfinite(float(v)) else None) for k, v in values.items()}


def _plain(value: Any) -> Any:
    """numpy / torch scalars in evaluation results."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
