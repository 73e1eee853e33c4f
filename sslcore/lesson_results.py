"""The lessons' measured verdicts that ship with the app: ``assets/lessons_measured.json``.

A teacher opening the Train page before class has not trained anything yet; what they need beside a lesson's "what
to watch" is whether its claims held when it was measured, on which seeds and on what machine. ``publish`` collects
every lesson's records from a runs folder where ``lessons verify`` ran (every seed found), measures their claims,
and writes them with the date and the machine; ``load`` reads them back for the Train page; ``markdown_table``
renders LESSONS.md's table from the same data, so the page and the document cannot disagree.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from .lessons import Claim, Lesson, load_lessons, measure

SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "lessons_measured.json"


def machine() -> str:
    """'Linux x86_64, 2 CPU cores, torch 2.14.1+cu130, no GPU' — what a figure was measured on."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {gpu}"


def publish(store, lessons: list[Lesson] | None = None) -> dict[str, Any]:
    """Every lesson's claims, per seed that has a record in ``store``, measured now from what the runs recorded."""
    out: dict[str, Any] = {"measured": time.strftime("%Y-%m-%d"), "machine": machine(), "lessons": {}}
    for lesson in lessons or load_lessons():
        for path in sorted((store.root / "lessons").glob(f"{lesson.id}.seed*.json")):
            record = json.loads(path.read_text())
            claims = measure(lesson, store, record)
            out["lessons"].setdefault(lesson.id, {})[str(record["seed"])] = [
                {k: c[k] for k in ("says", "left", "right", "held", "pending")} for c in claims]
    return out


def save(published: dict[str, Any], path: str | Path | None = None) -> Path:
    path = Path(path or SHIPPED)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(published, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(path: str | Path | None = None) -> dict[str, Any]:
    """The shipped verdicts, or an empty set when the file is missing or unreadable (the page then says so)."""
    try:
        data = json.loads(Path(path or SHIPPED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"lessons": {}}
    return data if isinstance(data.get("lessons"), dict) else {"lessons": {}}


def verdict(claim: dict[str, Any] | None) -> str:
    """'✅ 0.729 vs 0.372', '❌ 0.56 vs 0.8', or '— not measured (why)'."""
    if claim is None:
        return "— not measured"
    if claim["held"] is None:
        return f"— not measured ({claim.get('pending') or 'no run'})"
    return f"{'✅' if claim['held'] else '❌'} {claim['left']:.3g} vs {claim['right']:.3g}"


def by_claim(published: dict[str, Any], lesson: Lesson) -> list[tuple[Claim, dict[str, dict[str, Any] | None]]]:
    """Each of the lesson's claims with its measured row per seed (None where that seed did not measure it). Matched
    by the claim's words: a claim rewritten since it was published is not measured until it is published again."""
    seeds = published["lessons"].get(lesson.id, {})
    measured = {seed: {c["says"]: c for c in claims} for seed, claims in seeds.items()}
    return [(claim, {seed: rows.get(claim.says) for seed, rows in measured.items()}) for claim in lesson.claims]


def markdown_table(published: dict[str, Any], lessons: list[Lesson] | None = None,
                   seeds: tuple[str, ...] = ("0", "1")) -> str:
    """LESSONS.md's table: one row per claim, one column per seed."""
    rows = ["| lesson | claim | " + " | ".join(f"seed {s}" for s in seeds) + " |",
            "|---|---|" + "---|" * len(seeds)]
    for lesson in lessons or load_lessons():
        for claim, per_seed in by_claim(published, lesson):
            cells = [verdict(per_seed.get(s)) for s in seeds]
            says = claim.says.replace("|", "\\|")
            rows.append(f"| `{lesson.id}` | {says} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
