"""When the run store meets its own damage: a deleted or corrupt ``runs.sqlite``, a read-only folder, a full disk,
files left by interrupted writes.

- ``open_index`` creates the schema and, when the database was missing or is damaged (moved aside, never deleted),
  rebuilds it from the run folders: ``config.json`` says what each run is, ``checkpoints/`` how far it got, and the
  run's journal (``journal.py``) its statuses, metrics, snapshots and evaluations. It returns one line saying what
  was recovered.
- ``connect_read_only``: a store on a read-only folder is shown as it was last written (or, with no readable
  database, as rebuilt in memory) and refuses writes in one line.
- ``reported_faults`` turns SQLite and OS faults (disk full, read-only, I/O error, damage) into one-line
  ``StoreError`` messages that say what to do; ``"database or disk is full"`` is never hidden behind the
  ``"cannot rollback"`` that follows it.
- ``clean_interrupted_writes`` removes the temporary files of checkpoint / snapshot writes whose process is gone.
- ``check`` is ``python -m sslcore doctor``: what is wrong, and what ``repair=True`` fixed.
"""
from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import journal
from .errors import StoreError

if TYPE_CHECKING:
    from .runs import RunStore

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
FAULTS = (*DISK_FULL, *READ_ONLY, errno.EIO)
TEMP_FILE = re.compile(r"\..+\.(\d+)\.tmp")          # runs._atomic_save: .<name>.<pid>.tmp
LOW_SPACE_BYTES = 200 * 2**20   # doctor warns below this much free space
YOUNG_FOLDER_S = 30.0   # a run folder younger than this may still be getting its database row (create_run)
STOPPED = "stopped: "   # how a trainer's last line in log.txt names the fault that stopped it


# ---------------------------------------------------------------------------------------------------------------
# Opening the index
# ---------------------------------------------------------------------------------------------------------------
def inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def index_lost(store: RunStore) -> bool:
    """True when this thread's connection points at a runs.sqlite that was deleted or replaced since it opened."""
    opened = getattr(store._local, "ino", None)
    return opened is not None and inode(store.db_path) != opened


def read_only_connection(store: RunStore) -> sqlite3.Connection:
    """The one connection of a store on a read-only folder, shared by its threads: the database as last written
    (``mode=ro``, or ``immutable`` where the WAL's index file is missing and a read-only folder cannot hold a new
    one), or, with nothing readable, an in-memory index that ``open_index`` rebuilds from the run folders."""
    conn = getattr(store, "_read_only_conn", None)
    if conn is not None:
        return conn
    uri = store.db_path.resolve().as_uri()
    # mode=ro reads the WAL too (when its index file exists); immutable reads the main file alone.
    for option in ("mode=ro", "immutable=1") if inode(store.db_path) is not None else ():
        try:
            conn = sqlite3.connect(f"{uri}?{option}", uri=True, check_same_thread=False)
            conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
            break
        except sqlite3.Error:
            conn = None
    store._read_only_memory = conn is None
    if conn is None:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.row_factory = sqlite3.Row
    store._read_only_conn = conn
    return conn


def last_words(run_dir: Path) -> str | None:
    """The cause a trainer recorded in its log.txt before it stopped (``stopped: …``), for a run whose process is
    gone and which could not record it in the store itself (disk full)."""
    try:
        with open(run_dir / "log.txt", "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            tail = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    last = next((line.strip() for line in reversed(tail) if line.strip()), "")
    return last if last.startswith((STOPPED, "error: ")) else None   # its final words, or it was killed


def open_index(store: RunStore) -> str | None:
    """Schema, migrations, and self-repair of ``store``'s database. Returns what was recovered, in one line, or
    None when the database was fine (or new with nothing to recover)."""
    from .runs import SCHEMA

    was_there = inode(store.db_path) is not None and store.db_path.stat().st_size > 0
    if inode(store.db_path) is None and not store.read_only:
        _set_aside_orphans(store)
    damage = None
    try:
        _create_schema(store, SCHEMA)
    except sqlite3.DatabaseError as e:
        if store.read_only or not _is_damage(e):
            raise StoreError(_fault_message(store, e)) from None
        damage = f"was damaged ({e}); kept as {_quarantine(store)}"
        _create_schema(store, SCHEMA)
    if store.read_only and store._read_only_memory and was_there:
        damage = "could not be read in this read-only folder; shown as rebuilt in memory"
    empty = was_there and not store._conn().execute("SELECT 1 FROM runs LIMIT 1").fetchall()
    if was_there and damage is None and not empty:
        return None
    report = rebuild(store)
    if not report.runs and damage is None:
        return None   # a new store
    # "empty": a file SQLite reads as a new database (truncated, zeroed) while run folders exist
    return f"runs.sqlite {damage or ('was empty' if was_there else 'was missing')}: {report}"


def _set_aside_orphans(store: RunStore) -> None:
    """The -wal and -shm files of a deleted runs.sqlite belong to it: a new database at the same path would read
    them as its own (and a trainer still writing to the deleted file would share them). Rename them away; a
    process that has them open keeps its own."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("-wal", "-shm"):
        side = store.db_path.with_name(store.db_path.name + suffix)
        if side.exists():
            os.replace(side, side.with_name(f"{side.name}.orphan-{stamp}-{os.getpid()}"))


def _create_schema(store: RunStore, schema: str) -> None:
    conn = store._conn()
    if store.read_only and not store._read_only_memory:
        return   # read_only_connection has read it
    conn.executescript(schema)
    store._migrate()
    conn.execute("SELECT count(*) FROM runs").fetchone()


def _is_damage(e: sqlite3.DatabaseError) -> bool:
    text = str(e).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _quarantine(store: RunStore) -> str:
    """Move the damaged database (and its WAL files) aside, so nothing is deleted and a new one can be made."""
    conn = getattr(store._local, "conn", None)
    if conn is not None:
        conn.close()
        store._local.conn = store._local.ino = None
    kept = store.db_path.with_name(f"runs.sqlite.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(store.db_path, kept)
    for suffix in ("-wal", "-shm"):
        side = store.db_path.with_name(store.db_path.name + suffix)
        if side.exists():
            os.replace(side, kept.with_name(kept.name + suffix))
    return kept.name


# ---------------------------------------------------------------------------------------------------------------
# Rebuilding from the run folders
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class RebuildReport:
    runs: list[str] = field(default_factory=list)
    metric_rows: int = 0
    checkpoints: int = 0
    evals: int = 0
    interrupted: int = 0

    def __str__(self) -> str:
        if not self.runs:
            return "no run folders to recover"
        tail = f"; {self.interrupted} interrupted (resume continues them)" if self.interrupted else ""
        return (f"rebuilt {len(self.runs)} run(s) from their folders ({self.metric_rows:,} metric rows, "
                f"{self.checkpoints} checkpoints, {self.evals} evaluations){tail}")


def run_folders(root: Path) -> list[Path]:
    from .runs import RUN_ID_PATTERN

    return sorted(p for p in root.iterdir() if p.is_dir() and RUN_ID_PATTERN.fullmatch(p.name)
                  and (p / "config.json").is_file()) if root.is_dir() else []


def unindexed_folders(store: RunStore, *, settle_s: float = 0.0) -> list[Path]:
    """Run folders with a config.json but no row in the index (``settle_s``: skip folders younger than this, which
    may be a run being created right now)."""
    known = {r["id"] for r in store._conn().execute("SELECT id FROM runs")}
    now = time.time()
    return [p for p in run_folders(store.root)
            if p.name not in known and now - (p / "config.json").stat().st_mtime >= settle_s]


def rebuild(store: RunStore, folders: list[Path] | None = None) -> RebuildReport:
    """Index every run folder the database does not know (idempotent: a row that exists is left alone)."""
    from .runs import process_alive

    report = RebuildReport()
    folders = unindexed_folders(store) if folders is None else folders
    conn = store._conn()
    columns = {r["name"] for r in conn.execute("PRAGMA table_info(runs)")}
    for folder in folders:
        run = _recover_run(folder, process_alive)
        if run is None:
            continue
        row, metrics, snapshots, evals, n_checkpoints = run
        row = {k: v for k, v in row.items() if k in columns}
        if not store.read_only:
            conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = conn.execute(f"INSERT OR IGNORE INTO runs ({', '.join(row)}) VALUES "
                                    f"({', '.join('?' * len(row))})", tuple(row.values())).rowcount
            if inserted:
                conn.executemany("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?, ?, ?)", metrics)
                conn.executemany("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?)", snapshots)
                conn.executemany("INSERT OR REPLACE INTO evals VALUES (?, ?, ?, ?, ?, ?)", evals)
            if conn.in_transaction:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if inserted:
            report.runs.append(folder.name)
            report.metric_rows += len(metrics)
            report.checkpoints += n_checkpoints
            report.evals += len(evals)
            report.interrupted += row.get("status") == "failed" and row.get("error", "").startswith("interrupted")
    return report


def catch_up(store: RunStore) -> None:
    """After this process found runs.sqlite replaced, add what the running runs journaled meanwhile: a row it
    committed to the old file just after someone else rebuilt the new one is in the journal, not in the index."""
    from .runs import process_alive

    conn = store._conn()
    running = [r["id"] for r in conn.execute("SELECT id FROM runs WHERE status = 'running'")]
    for run_id in running:
        recovered = _recover_run(store.root / run_id, process_alive)
        if recovered is None:
            continue
        _, metrics, snapshots, evals, _ = recovered
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR IGNORE INTO metrics VALUES (?, ?, ?, ?, ?, ?)", metrics)
            conn.executemany("INSERT OR IGNORE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?)", snapshots)
            conn.executemany("INSERT OR IGNORE INTO evals VALUES (?, ?, ?, ?, ?, ?)", evals)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _recover_run(folder: Path, process_alive):
    """(runs row, metric rows, snapshot rows, eval rows, checkpoints) of one run folder, or None if unreadable."""
    from .config import ConfigError, RunConfig

    run_id = folder.name
    try:
        cfg = RunConfig.load(folder / "config.json")
    except ConfigError:
        return None
    state: dict = {}
    metrics: dict[tuple[str, int], tuple] = {}
    snapshots: dict[tuple[str, int], tuple] = {}
    evals: dict[tuple[int, str], tuple] = {}
    first_time = None
    for rec in journal.read(folder):
        first_time = first_time or rec.get("time")
        kind = rec["kind"]
        try:
            if kind == "status":
                state.update({k: v for k, v in rec.items() if k not in ("kind", "time")})
            elif kind == "metrics":
                step, epoch, wall = int(rec["step"]), float(rec["epoch"]), float(rec.get("wall_time", rec["time"]))
                for name, value in rec["values"].items():
                    metrics[(name, step)] = (run_id, step, epoch, name, value, wall)
            elif kind == "snapshot":
                if (folder / "snapshots" / rec["file"]).is_file():
                    snapshots[(rec["type"], int(rec["step"]))] = (
                        run_id, int(rec["step"]), rec["type"], rec["file"], rec.get("diag_mean"),
                        rec.get("offdiag_abs_mean"), int(rec["size"]))
            elif kind == "eval":
                evals[(int(rec["step"]), rec["key"])] = (run_id, int(rec["step"]), rec["key"],
                                                         json.dumps(rec["protocol"]), json.dumps(rec["results"]),
                                                         float(rec.get("created", rec["time"])))
            elif kind == "truncate":
                step = int(rec["step"])
                metrics = {k: v for k, v in metrics.items() if k[1] <= step}
                snapshots = {k: v for k, v in snapshots.items() if k[1] <= step}
        except (KeyError, TypeError, ValueError):
            continue   # one odd record does not cost the run
    checkpoint_steps = sorted(int(m.group(1)) for p in (folder / "checkpoints").glob("step_*.pt")
                              if (m := re.fullmatch(r"step_(\d+)\.pt", p.name)))
    step = max([s for _, s in metrics] + checkpoint_steps + [0])
    status, error = state.get("status"), state.get("error")
    pid = state.get("pid")
    if status in ("queued", "running") and pid and process_alive(int(pid)):
        status = "running"   # still training: its heartbeats continue into the new index
    elif status == "queued" and not checkpoint_steps and not pid:
        pass   # still waiting for a slot: the scheduler starts it as before
    elif status in ("queued", "running") or status is None:
        where = f"step {checkpoint_steps[-1]}" if checkpoint_steps else "the start"
        status, error = "failed", f"interrupted when the run store was lost; resume continues from {where}"
        pid = None
    created = state.get("created") or first_time or (folder / "config.json").stat().st_mtime
    row = {"id": run_id, "name": cfg.name or run_id, "method": cfg.method.name, "dataset": cfg.data.dataset,
           "status": status, "device": state.get("device"), "requested_device": cfg.device, "pid": pid,
           "heartbeat": time.time() if status == "running" else None, "created": created,
           "started": state.get("started"),
           "ended": None if status in ("queued", "running") else state.get("ended") or time.time(),
           "step": step, "total_steps": int(state.get("total_steps") or 0), "error": error,
           "world_size": int(state.get("world_size") or 1), "owner": state.get("owner")}
    return row, list(metrics.values()), list(snapshots.values()), list(evals.values()), len(checkpoint_steps)


# ---------------------------------------------------------------------------------------------------------------
# Faults as one line
# ---------------------------------------------------------------------------------------------------------------
@contextmanager
def reported_faults(store: RunStore) -> Iterator[None]:
    """Inside: SQLite and OS faults of the store become ``StoreError`` with one line that says what to do."""
    try:
        yield
    except StoreError:
        raise
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise
        raise StoreError(_fault_message(store, e)) from e
    except sqlite3.DatabaseError as e:
        if not _is_damage(e):
            raise
        raise StoreError(_fault_message(store, e)) from e
    except Exception as e:
        # An OSError, or what a writer made of one: torch.save reports a full disk as RuntimeError("unexpected
        # pos …") raised while handling the OSError, so the cause is looked for down the exception's context.
        cause = e
        while cause is not None and not (isinstance(cause, OSError) and cause.errno in FAULTS):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise StoreError(_fault_message(store, cause)) from e


def read_only_error(store: RunStore) -> StoreError:
    return StoreError(f"{store.root} is read-only: runs can be listed but not started, changed or recorded; "
                      f"pass a writable --runs-dir (or $SSL_LENS_RUNS)")


def _fault_message(store: RunStore, e: BaseException) -> str:
    text = str(e.strerror if isinstance(e, OSError) and e.strerror else e)
    low = text.lower()
    code = getattr(e, "errno", None)
    if code in DISK_FULL or "disk is full" in low or "no space" in low:
        return (f"the disk holding {store.root} is full ({text}); free some space, then `python -m sslcore resume "
                f"RUN_ID` continues a stopped run from its last checkpoint")
    if code in READ_ONLY or "readonly" in low or "read-only" in low:
        return (f"{store.root} is read-only ({text}); pass a writable --runs-dir, or make the folder writable and "
                f"retry")
    if isinstance(e, sqlite3.DatabaseError) and _is_damage(e):
        return (f"{store.db_path} is damaged ({text}); `python -m sslcore doctor --repair` rebuilds it from the run "
                f"folders")
    return f"the run store in {store.root} failed ({text})"


# ---------------------------------------------------------------------------------------------------------------
# Files left by interrupted writes
# ---------------------------------------------------------------------------------------------------------------
def interrupted_writes(run_dir: Path) -> list[Path]:
    """Temporary files of writes (checkpoints, snapshots) whose writing process no longer exists."""
    from .runs import process_alive

    found = []
    for sub in ("checkpoints", "snapshots"):
        folder = run_dir / sub
        for p in folder.iterdir() if folder.is_dir() else []:
            m = TEMP_FILE.fullmatch(p.name)
            if m and int(m.group(1)) != os.getpid() and not process_alive(int(m.group(1))):
                found.append(p)
    return found


def clean_interrupted_writes(run_dir: Path) -> tuple[int, int]:
    """Remove them; returns (files, bytes) removed."""
    files = size = 0
    for p in interrupted_writes(run_dir):
        try:
            n = p.stat().st_size
            p.unlink()
        except FileNotFoundError:
            continue
        files, size = files + 1, size + n
    return files, size


# ---------------------------------------------------------------------------------------------------------------
# doctor
# ---------------------------------------------------------------------------------------------------------------
def check(store: RunStore, *, repair: bool = False) -> list[str]:
    """What is wrong with the store, one line each (and, with ``repair``, what was fixed). Empty: all is well."""
    findings = []
    if store.repair_message:
        findings.append(store.repair_message)
    if store.read_only:
        findings.append(str(read_only_error(store)))
    else:
        try:
            result = store._conn().execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as e:
            result = str(e)
        if result != "ok" and repair:
            from .runs import SCHEMA

            kept = _quarantine(store)
            _create_schema(store, SCHEMA)
            findings.append(f"runs.sqlite failed its integrity check ({result}); kept as {kept}: {rebuild(store)}")
        elif result != "ok":
            findings.append(f"runs.sqlite fails its integrity check ({result}); --repair rebuilds it from the run "
                            f"folders")
        missing = unindexed_folders(store, settle_s=YOUNG_FOLDER_S)
        if missing:
            if repair:
                findings.append(f"{len(missing)} run folder(s) were not in runs.sqlite: {rebuild(store, missing)}")
            else:
                findings.append(f"{len(missing)} run folder(s) are not in runs.sqlite "
                                f"({', '.join(p.name for p in missing[:3])}…); --repair indexes them")
    known = [r["id"] for r in store._conn().execute("SELECT id FROM runs")]
    gone = [i for i in known if not (store.root / i).is_dir()]
    if gone:
        findings.append(f"{len(gone)} run(s) in runs.sqlite have no folder any more ({', '.join(gone[:3])}); "
                        f"their metrics remain, their checkpoints are lost")
    temp = [p for f in run_folders(store.root) for p in interrupted_writes(f)]
    if temp:
        total = sum(p.stat().st_size for p in temp if p.exists())
        if repair and not store.read_only:
            for p in temp:
                p.unlink(missing_ok=True)
            findings.append(f"removed {len(temp)} file(s) left by interrupted writes ({total / 2**20:.1f} MiB)")
        else:
            findings.append(f"{len(temp)} file(s) left by interrupted writes ({total / 2**20:.1f} MiB); "
                            f"--repair removes them")
    free = _free_bytes(store.root)
    if free is not None and free < LOW_SPACE_BYTES:
        findings.append(f"only {free / 2**20:.0f} MiB free on the disk holding {store.root}; checkpoints of "
                        f"large backbones may not fit")
    return findings


def _free_bytes(path: Path) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize
