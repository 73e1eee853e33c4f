"""Lessons and the claims they make, as data that a run can check.

A lesson (``assets/lessons.json``) is a few runs — or a sweep (``sweeps.py``) — with prose for the Train page and a
list of *claims*: what a student should see, written so a measurement can hold it or not::

    {"says": "Barlow Twins' kNN on the shape beats raw pixels by 25 points",
     "left": {"run": "Barlow Twins", "metric": "eval knn/class"},
     "op": ">=", "right": {"run": "Barlow Twins", "metric": "raw_pixels knn/class"}, "plus": 0.25}

``left op right + plus``; ``right`` may be a number, and ``op`` may be ``within`` (|left − right| ≤ plus). A metric
is ``"<source> <name>"``:

    eval <key>            the run's final evaluation, backbone features (``knn/class``, ``linear/colour``, …)
    raw_pixels <key>      the raw-pixel baseline stored with that evaluation (``random_backbone <key>`` likewise)
    chance <target>       the majority-class rate of the test set
    final <metric>        a logged training metric, averaged over the last 10 % of the run's steps (one batch's
                          RankMe or loss is noisy; the average is what the curve's end shows)
    first <metric>        the first logged value
    matrix diag|offdiag   the last heatmap snapshot of the method's matrix — the displayed block's mean diagonal /
                          mean |off-diagonal| (``xcorr diag|offdiag``: the embeddings' cross-correlation)

``launch`` starts a lesson's runs through the run store (so they show in the app), reusing a finished, running or
queued run with the same configuration; ``measure`` checks every claim against what the runs recorded; ``verify``
does both and waits in between. Each launch writes a record ``<runs_dir>/lessons/<lesson>.seed<N>.json`` (run ids,
and after measuring the claims with their numbers), which the Train page reads to show the last measured result.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import FLAT_FIELDS, ConfigError, RunConfig
from .sweeps import Sweep

LESSONS_FILE = Path(__file__).resolve().parent.parent / "assets" / "lessons.json"
# Lesson runs log densely so the Monitor moves every second or two (the Train page's cadence).
LESSON_BASE = {"log_every": 2, "snapshot_every": 10}
OPS: dict[str, Callable[[float, float, float], bool]] = {
    ">": lambda a, b, plus: a > b + plus, ">=": lambda a, b, plus: a >= b + plus,
    "<": lambda a, b, plus: a < b + plus, "<=": lambda a, b, plus: a <= b + plus,
    "within": lambda a, b, plus: abs(a - b) <= plus,
}
SOURCES = ("eval", "raw_pixels", "random_backbone", "chance", "final", "first", "matrix", "xcorr")
FINAL_FRACTION = 0.1
LESSON_ID = re.compile(r"[a-z0-9_]{1,64}")

Progress = Callable[[float, str], None] | None


# ----------------------------------------------------------------------------------------------------------------------
# Lessons as data
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Operand:
    run: str
    source: str
    name: str

    def __str__(self) -> str:
        return f"{self.run}: {self.source} {self.name}"


@dataclass(frozen=True)
class Claim:
    says: str
    left: Operand
    op: str
    right: Operand | float
    plus: float = 0.0

    def formula(self) -> str:
        right = str(self.right) if isinstance(self.right, Operand) else f"{self.right:g}"
        if self.op == "within":
            return f"|{self.left} − {right}| ≤ {self.plus:g}"
        plus = f" {'+' if self.plus >= 0 else '−'} {abs(self.plus):g}" if self.plus else ""
        return f"{self.left} {self.op} {right}{plus}"


@dataclass(frozen=True)
class LessonRun:
    label: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    summary: str
    watch: str
    runs: tuple[LessonRun, ...]
    claims: tuple[Claim, ...] = ()
    sweep: Sweep | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def run(self, label: str) -> LessonRun:
        for r in self.runs:
            if r.label == label:
                return r
        raise ConfigError(f"lesson {self.id}: no run labelled {label!r}")


def load_lessons(path: str | Path | None = None) -> list[Lesson]:
    """Every lesson of ``assets/lessons.json`` (or ``path``), checked: a claim that names a run the lesson does not
    have, an unknown metric source or operator, or a run field that is not a run option is a ``ConfigError``."""
    path = Path(path) if path else LESSONS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"lessons: {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"lessons: {path} is not valid JSON ({e.msg}, line {e.lineno})") from None
    lessons = [_lesson(d) for d in data.get("lessons", [])]
    ids = [lesson.id for lesson in lessons]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"lessons: two lessons share an id in {path}")
    return lessons


def get_lesson(lesson_id: str, path: str | Path | None = None) -> Lesson:
    lessons = load_lessons(path)
    for lesson in lessons:
        if lesson.id == lesson_id:
            return lesson
    raise ConfigError(f"lesson: unknown lesson {lesson_id!r}; choose one of: {', '.join(x.id for x in lessons)}")


def _lesson(d: dict[str, Any]) -> Lesson:
    lesson_id = d.get("id")
    if not isinstance(lesson_id, str) or not LESSON_ID.fullmatch(lesson_id):
        raise ConfigError(f"lessons: id {lesson_id!r} must be lower-case letters, digits and _")
    where = f"lesson {lesson_id}"
    sweep = Sweep.from_dict(d["sweep"], f"{where}.sweep") if "sweep" in d else None
    if sweep is not None:
        runs = tuple(LessonRun(p.label, p.fields) for p in sweep.expand())
    else:
        runs = tuple(LessonRun(r["label"], dict(r.get("fields") or {})) for r in d.get("runs", []))
    if not runs:
        raise ConfigError(f"{where}: needs runs or a sweep")
    labels = {r.label for r in runs}
    if len(labels) != len(runs):
        raise ConfigError(f"{where}: two runs share a label")
    for r in runs:
        unknown = set(r.fields) - set(FLAT_FIELDS)
        if unknown:
            raise ConfigError(f"{where}, run {r.label!r}: {sorted(unknown)[0]} is not a run option")
    claims = tuple(_claim(c, labels, f"{where}, claim {i + 1}") for i, c in enumerate(d.get("claims", [])))
    return Lesson(lesson_id, d.get("title", lesson_id), d.get("summary", ""), d.get("watch", ""), runs, claims,
                  sweep, d)


def _operand(d: Any, labels: set[str], where: str) -> Operand:
    if not isinstance(d, dict) or not isinstance(d.get("metric"), str):
        raise ConfigError(f"{where}: an operand is {{\"run\": LABEL, \"metric\": \"SOURCE NAME\"}}, got {d!r}")
    if d.get("run") not in labels:
        raise ConfigError(f"{where}: run {d.get('run')!r} is not one of this lesson's runs ({', '.join(labels)})")
    source, _, name = d["metric"].partition(" ")
    if source not in SOURCES or not name:
        raise ConfigError(f"{where}: metric {d['metric']!r} must be '<source> <name>' with source one of "
                          f"{', '.join(SOURCES)}")
    return Operand(d["run"], source, name.strip())


def _claim(d: dict[str, Any], labels: set[str], where: str) -> Claim:
    if d.get("op") not in OPS:
        raise ConfigError(f"{where}: op {d.get('op')!r} must be one of {', '.join(OPS)}")
    right = d.get("right")
    right = float(right) if isinstance(right, int | float) else _operand(right, labels, where)
    return Claim(str(d.get("says", "")), _operand(d.get("left"), labels, where), d["op"], right,
                 float(d.get("plus", 0.0)))


# ----------------------------------------------------------------------------------------------------------------------
# Launching a lesson's runs
# ----------------------------------------------------------------------------------------------------------------------
def run_config(lesson: Lesson, run: LessonRun, seed: int = 0) -> RunConfig:
    """The validated configuration of one lesson run: RunConfig's defaults, the lesson cadence, the run's fields."""
    name = f"{lesson.title.split(' (')[0]}: {run.label}"
    return RunConfig().replace(**(LESSON_BASE | run.fields | {"seed": seed, "name": name})).validate()


def _same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k != "name"} == {k: v for k, v in b.items() if k != "name"}


def find_run(store, cfg: RunConfig) -> str | None:
    """A run in the store trained (or training, or queued) with exactly ``cfg`` — its name aside — so launching a
    lesson twice, or a lesson that shares a run with another, costs nothing. Newest first."""
    wanted = cfg.to_dict()
    for r in store.list_runs(refresh=False):
        if r.status not in ("finished", "running", "queued") or r.method != cfg.method.name:
            continue
        try:
            have = RunConfig.from_dict(json.loads((store.run_dir(r.id) / "config.json").read_text())).to_dict()
        except (OSError, ValueError, ConfigError):  # an unreadable or older config is simply not a match
            continue
        if _same_config(have, wanted):
            return r.id
    return None


def launch(lesson: Lesson, store, *, seed: int = 0, reuse: bool = True,
           launcher: Callable[[RunConfig, Any], str] | None = None) -> dict[str, Any]:
    """Queue every run of ``lesson`` (they start one after another) and write its launch record. Returns it.
    ``launcher(cfg, store) -> run id`` queues one run (default ``runs.launch``; the app passes the classroom's,
    which checks caps and sets the owner)."""
    from .runs import launch as launch_run

    launcher = launcher or launch_run

    configs = [(run, run_config(lesson, run, seed)) for run in lesson.runs]  # all valid before any is queued
    runs, reused = {}, []
    for run, cfg in configs:
        existing = find_run(store, cfg) if reuse else None
        if existing:
            reused.append(run.label)
        runs[run.label] = existing or launcher(cfg, store)
    record = {"lesson": lesson.id, "title": lesson.title, "seed": seed, "launched": time.time(), "runs": runs,
              "reused": reused, "claims": None, "measured": None}
    save_record(store, record)
    return record


def record_path(store, lesson_id: str, seed: int) -> Path:
    if not LESSON_ID.fullmatch(str(lesson_id)) or not isinstance(seed, int):
        raise ConfigError(f"lesson: {lesson_id!r} / seed {seed!r} is not a lesson id and seed")
    return store.root / "lessons" / f"{lesson_id}.seed{seed}.json"


def save_record(store, record: dict[str, Any]) -> None:
    path = record_path(store, record["lesson"], record["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=_json_default))
    os.replace(tmp, path)


def load_record(store, lesson_id: str, seed: int | None = None) -> dict[str, Any] | None:
    """The launch record of a lesson for ``seed``, or the most recently launched one of any seed."""
    if seed is not None:
        paths = [record_path(store, lesson_id, seed)]
    else:
        record_path(store, lesson_id, 0)  # validates the id
        paths = list((store.root / "lessons").glob(f"{lesson_id}.seed*.json"))
    records = []
    for p in paths:
        try:
            records.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return max(records, key=lambda r: r.get("launched", 0), default=None)


def wait(store, record: dict[str, Any], *, poll: float = 2.0, progress: Progress = None) -> None:
    """Block until none of the record's runs is queued or running, reporting the fraction of runs done (the
    running one counted by its steps: a queued run's length is not known before its data is loaded)."""
    emit = progress or (lambda f, m: None)
    while True:
        store.refresh()  # marks dead runs failed and starts queued ones, as any reader of the store does
        runs = [store.get(run_id) for run_id in dict.fromkeys(record["runs"].values())]
        active = [r for r in runs if r.active]
        running = next((r for r in active if r.status == "running"), None)
        done = len(runs) - len(active) + sum(r.progress for r in active)
        emit(done / len(runs), f"{len(runs) - len(active)}/{len(runs)} runs done"
             + (f", now {running.name} ({running.step}/{running.total_steps or '?'} steps)" if running else ""))
        if not active:
            return
        time.sleep(poll)


# ----------------------------------------------------------------------------------------------------------------------
# Measuring the claims
# ----------------------------------------------------------------------------------------------------------------------
class _Readings:
    """What the runs of one launch recorded, read once per run."""

    def __init__(self, store, record: dict[str, Any]):
        self.store, self.record = store, record
        self._cache: dict[str, dict[str, Any]] = {}

    def _run(self, label: str) -> dict[str, Any]:
        if label not in self._cache:
            from .evaluate import latest_results

            run_id = self.record["runs"].get(label)
            info = self.store.get(run_id, refresh=False) if run_id else None
            self._cache[label] = {"info": info, "results": latest_results(self.store, run_id) if info else None,
                                  "metrics": self.store.metrics(run_id) if info else {},
                                  "snapshots": self.store.snapshots(run_id) if info else []}
        return self._cache[label]

    def value(self, op: Operand) -> float:
        """The operand's number; ``LookupError`` with the reason when the run has not recorded it (yet)."""
        run = self._run(op.run)
        info = run["info"]
        if info is None:
            raise LookupError(f"{op.run}: not launched")
        if info.status != "finished":
            raise LookupError(f"{op.run}: {info.status}" + (f" ({info.error})" if info.error else ""))
        if op.source in ("eval", "raw_pixels", "random_backbone", "chance"):
            results = run["results"]
            if results is None:
                raise LookupError(f"{op.run}: no evaluation stored")
            table = {"eval": results["metrics"], "chance": results["protocol"].get("chance", {})}.get(
                op.source, results["baselines"].get(op.source, {}))
            if op.name not in table:
                raise LookupError(f"{op.run}: {op.source} has no {op.name}")
            return float(table[op.name])
        if op.source in ("matrix", "xcorr"):
            snaps = [s for s in run["snapshots"] if s["kind"] == op.source]
            if not snaps:
                raise LookupError(f"{op.run}: no {op.source} snapshot")
            key = {"diag": "diag_mean", "offdiag": "offdiag_abs_mean"}.get(op.name)
            if key is None:
                raise LookupError(f"{op.source} has diag and offdiag, not {op.name}")
            return float(snaps[-1][key])
        series = run["metrics"].get(op.name)
        if not series or not series["value"]:
            raise LookupError(f"{op.run}: metric {op.name} was not logged")
        steps, values = series["step"], series["value"]
        if op.source == "first":
            return float(values[0])
        cutoff = steps[-1] - max(1, FINAL_FRACTION * (info.total_steps or steps[-1]))
        tail = [v for s, v in zip(steps, values) if s > cutoff and math.isfinite(v)] or [values[-1]]
        return sum(tail) / len(tail)


def measure(lesson: Lesson, store, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every claim of ``lesson`` checked against the runs of ``record``: ``{"says", "formula", "left", "right",
    "held"}`` with ``held`` None (and ``pending`` saying why) while a run it needs has not finished."""
    readings = _Readings(store, record)
    out = []
    for claim in lesson.claims:
        row: dict[str, Any] = {"says": claim.says, "formula": claim.formula(), "left": None, "right": None,
                               "held": None, "pending": None}
        try:
            left = readings.value(claim.left)
            right = readings.value(claim.right) if isinstance(claim.right, Operand) else claim.right
        except LookupError as e:
            row["pending"] = str(e.args[0])
        else:
            row |= {"left": left, "right": right, "held": bool(OPS[claim.op](left, right, claim.plus))}
        out.append(row)
    return out


def verify(lesson: Lesson, store, *, seed: int = 0, reuse: bool = True, progress: Progress = None
           ) -> dict[str, Any]:
    """Launch the lesson's runs, wait for them, check every claim, and store the verdicts in its record."""
    return verify_many([lesson], store, seed=seed, reuse=reuse, progress=progress)[0]


def verify_many(lessons: list[Lesson], store, *, seed: int = 0, reuse: bool = True, progress: Progress = None
                ) -> list[dict[str, Any]]:
    """``verify`` for several lessons: every run is queued first, so a run two lessons share (the default Barlow
    Twins run, say) trains once; then one wait, then the claims of each."""
    records = [launch(lesson, store, seed=seed, reuse=reuse) for lesson in lessons]
    every_run = {run_id: run_id for r in records for run_id in r["runs"].values()}
    wait(store, {"runs": every_run}, progress=progress)
    for lesson, record in zip(lessons, records):
        record["claims"] = measure(lesson, store, record)
        record["measured"] = time.time()
        save_record(store, record)
    return records


def describe(lesson: Lesson, store=None) -> dict[str, Any]:
    """One row of `lessons list`: id, title, kind, how many runs and claims, and the last measured verdict."""
    record = load_record(store, lesson.id) if store is not None else None
    last = "not measured"
    if record and record.get("claims") is not None:
        last = f"seed {record['seed']}: {summary(record['claims'])}"
    return {"id": lesson.id, "title": lesson.title, "kind": "sweep" if lesson.sweep else "lesson",
            "runs": len(lesson.runs), "claims": len(lesson.claims), "last": last,
            "measured": record.get("measured") if record else None}


def summary(claims: list[dict[str, Any]] | None) -> str:
    """'3/4 claims held', '2 held, 1 pending', or 'not measured'."""
    if not claims:
        return "no claims" if claims == [] else "not measured"
    held = sum(c["held"] is True for c in claims)
    pending = sum(c["held"] is None for c in claims)
    text = f"{held}/{len(claims)} claims held"
    return text + (f" ({pending} waiting for runs)" if pending else "")


def format_report(lesson: Lesson, record: dict[str, Any]) -> str:
    """Plain text: the lesson, its runs, then each claim with its numbers and held / not held."""
    lines = [f"{lesson.id} — {lesson.title} (seed {record['seed']})"]
    for label, run_id in record["runs"].items():
        lines.append(f"  run  {label:34} {run_id}" + ("  (reused)" if label in record.get("reused", []) else ""))
    for c in record.get("claims") or []:
        mark = "HELD    " if c["held"] else "NOT HELD" if c["held"] is False else "PENDING "
        numbers = (f"{_fmt(c['left'])} vs {_fmt(c['right'])}" if c["held"] is not None else c["pending"])
        lines.append(f"  {mark} {c['says']}\n           {c['formula']}: {numbers}")
    lines.append(f"  → {summary(record.get('claims'))}")
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _json_default(o: Any) -> Any:
    return str(o)
