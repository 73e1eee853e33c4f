"""The run store survives its own damage: a deleted or corrupt runs.sqlite (a real SQLite file) is rebuilt from the
run folders — config.json, checkpoints and each run's journal — with every metric, snapshot and evaluation."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sslcore import journal
from sslcore.config import RunConfig
from sslcore.runs import RunStore
from sslcore.store_repair import check, clean_interrupted_writes, interrupted_writes


def tiny(**kw) -> RunConfig:
    base = {"train_size": 64, "image_size": 16, "batch_size": 16, "projector_dim": 32, "epochs": 2, "device": "cpu"}
    return RunConfig().replace(**(base | kw))


def recorded_run(store: RunStore, *, finish: str | None = "finished", name: str = "kept") -> str:
    """A run as a trainer leaves it: claimed, 8 steps of metrics, a snapshot, two checkpoints, an evaluation."""
    run_id = store.create_run(tiny(name=name))
    store.update(run_id, status="running", device="cpu", pid=os.getpid(), started=1.0, total_steps=8)
    for step in range(1, 9):
        store.log_metrics(run_id, step, step / 4, {"loss": 10.0 - step, "lr": 1e-3, "nan_metric": float("nan")})
    store.add_snapshot(run_id, 4, "xcorr", np.eye(4, dtype=np.float32), 1.0, 0.0)
    for step in (4, 8):
        store.save_checkpoint(run_id, step, {"step": step})
    store.add_eval(run_id, 8, "backbone", {"k": 20}, {"metrics": {"knn/class": 0.5}})
    if finish:
        store.finish(run_id, finish)
    return run_id


def test_deleted_database_is_rebuilt_with_every_metric(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = recorded_run(store)
    expected_rows = RunStore(tmp_path / "runs").metric_rows(run_id)
    (tmp_path / "runs" / "runs.sqlite").unlink()
    for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (tmp_path / "runs" / side).unlink(missing_ok=True)

    rebuilt = RunStore(tmp_path / "runs")
    assert rebuilt.repair_message.startswith("runs.sqlite was missing: rebuilt 1 run(s)")
    assert "24 metric rows, 2 checkpoints, 1 evaluations" in rebuilt.repair_message
    assert "\n" not in rebuilt.repair_message
    assert rebuilt.metric_rows(run_id) == expected_rows
    run = rebuilt.get(run_id)
    assert (run.status, run.step, run.total_steps, run.name) == ("finished", 8, 8, "kept")
    assert np.isnan(rebuilt.metrics(run_id)["nan_metric"]["value"][0])   # NaN stays NaN, not a lost row
    assert rebuilt.snapshots(run_id)[0]["file"] == "xcorr_00000004.npy"
    assert rebuilt.evals(run_id)[0]["results"] == {"metrics": {"knn/class": 0.5}}
    assert RunStore(tmp_path / "runs").repair_message is None    # once rebuilt, it is a store like any other


def test_corrupt_header_is_kept_aside_and_rebuilt(tmp_path):
    root = tmp_path / "runs"
    store = RunStore(root)
    run_id = recorded_run(store)
    reference = RunStore(root)
    expected_rows = reference.metric_rows(run_id)
    del store, reference
    db = root / "runs.sqlite"
    subprocess.run([sys.executable, "-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("
                    "'PRAGMA wal_checkpoint(TRUNCATE)')", str(db)], check=True)
    with open(db, "r+b") as f:                      # the 16-byte magic string and the page size: garbage
        f.write(b"this is no database at all" * 4)

    rebuilt = RunStore(root)
    message = rebuilt.repair_message
    assert message.startswith("runs.sqlite was damaged (file is not a database); kept as runs.sqlite.damaged-")
    assert "rebuilt 1 run(s)" in message and "\n" not in message
    kept = [p for p in root.iterdir() if p.name.startswith("runs.sqlite.damaged-") and p.suffix != ".sqlite"
            and not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is no database")   # nothing deleted
    assert rebuilt.metric_rows(run_id) == expected_rows


def test_database_deleted_while_a_run_trains_keeps_recording(tmp_path):
    """The trainer's connection notices the file is gone, reopens a rebuilt index, and its later writes land
    there: the run is not 'not found', and no metric from before or after is lost."""
    root = tmp_path / "runs"
    trainer_store = RunStore(root)
    run_id = recorded_run(trainer_store, finish=None)       # running, this process's pid: alive
    (root / "runs.sqlite").unlink()
    for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (root / side).unlink(missing_ok=True)

    trainer_store.log_metrics(run_id, 9, 2.25, {"loss": 0.5})     # the trainer's next write
    trainer_store.heartbeat(run_id, 9)
    assert trainer_store.repair_message.startswith("runs.sqlite was missing: rebuilt 1 run(s)")
    viewer = RunStore(root)
    run = viewer.get(run_id)
    assert run.status == "running" and run.pid == os.getpid() and run.step == 9
    assert [s for s, name, _ in viewer.metric_rows(run_id) if name == "loss"] == list(range(1, 10))
    trainer_store.finish(run_id, "finished")
    assert viewer.get(run_id).status == "finished"


def test_a_run_whose_trainer_died_with_the_index_is_resumable(tmp_path):
    root = tmp_path / "runs"
    store = RunStore(root)
    run_id = recorded_run(store, finish=None)
    store.update(run_id, pid=2**22 + 12345)   # no such process
    (root / "runs.sqlite").unlink()
    rebuilt = RunStore(root)
    run = rebuilt.get(run_id)
    assert run.status == "failed" and run.error == ("interrupted when the run store was lost; resume continues "
                                                    "from step 8")
    assert "1 interrupted (resume continues them)" in rebuilt.repair_message


def test_torn_journal_line_costs_only_that_line(tmp_path):
    root = tmp_path / "runs"
    store = RunStore(root)
    run_id = recorded_run(store)
    with open(root / run_id / journal.JOURNAL, "a") as f:
        f.write('{"kind": "metrics", "step": 9, "epo')          # a write cut short by a kill or a full disk
    (root / "runs.sqlite").unlink()
    rebuilt = RunStore(root)
    assert max(s for s, _, _ in rebuilt.metric_rows(run_id)) == 8
    assert rebuilt.get(run_id).status == "finished"


def test_resume_truncation_is_replayed(tmp_path):
    """Metrics logged after the checkpoint a run resumed from are forgotten in the store; a rebuild forgets them
    too (the journal records the truncation)."""
    root = tmp_path / "runs"
    store = RunStore(root)
    run_id = recorded_run(store, finish=None)
    store.truncate_after(run_id, 4)
    store.log_metrics(run_id, 5, 1.25, {"loss": 42.0})
    expected = store.metric_rows(run_id)
    (root / "runs.sqlite").unlink()
    assert RunStore(root).metric_rows(run_id) == expected


def test_doctor_indexes_folders_and_removes_interrupted_writes(tmp_path):
    root = tmp_path / "runs"
    store = RunStore(root)
    kept = recorded_run(store)
    orphan = recorded_run(store, name="orphan")
    with store._tx() as db:                      # a row lost some other way than a deleted file
        db.execute("DELETE FROM runs WHERE id = ?", (orphan,))
    os.utime(root / orphan / "config.json", (1, 1))    # old enough not to be a run being created right now
    dead_pid = 2**22 + 4321
    leftover = root / kept / "checkpoints" / f".step_00000012.pt.{dead_pid}.tmp"
    leftover.write_bytes(b"x" * 4096)
    live = root / kept / "checkpoints" / f".step_00000016.pt.{os.getpid()}.tmp"
    live.write_bytes(b"x")                       # a write in progress (our own pid): left alone

    findings = check(store)
    assert any("1 run folder(s) are not in runs.sqlite" in f for f in findings)
    assert any("1 file(s) left by interrupted writes" in f for f in findings)
    out = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(root), "doctor", "--repair"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "rebuilt 1 run(s)" in out.stdout and "removed 1 file(s) left by interrupted writes" in out.stdout
    assert RunStore(root).get(orphan).name == "orphan" and not leftover.exists() and live.exists()
    again = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(root), "doctor"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and again.stdout.startswith("ok: 2 run(s)")


def test_interrupted_writes_of_dead_processes_only(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "snapshots").mkdir()
    dead = [run_dir / "checkpoints" / ".step_00000004.pt.4199999.tmp",
            run_dir / "snapshots" / ".xcorr_00000002.npy.4199998.tmp"]
    for p in dead:
        p.write_bytes(b"\0" * 1000)
    ours = run_dir / "checkpoints" / f".step_00000008.pt.{os.getpid()}.tmp"
    ours.write_bytes(b"\0")
    keep = run_dir / "checkpoints" / "step_00000004.pt"
    keep.write_bytes(b"\0")
    assert sorted(interrupted_writes(run_dir)) == sorted(dead)
    assert clean_interrupted_writes(run_dir) == (2, 2000)
    assert ours.exists() and keep.exists() and not any(p.exists() for p in dead)


def test_cli_says_what_was_recovered_in_one_line(tmp_path):
    root = tmp_path / "runs"
    run_id = recorded_run(RunStore(root))
    for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (root / side).unlink(missing_ok=True)
    (root / "runs.sqlite").write_bytes(b"\0" * 10)        # truncated: SQLite reads it as a new, empty database
    out = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(root), "--json", "runs"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    notes = out.stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("note: runs.sqlite was") and "rebuilt 1 run(s)" in notes[0]
    assert [r["id"] for r in json.loads(out.stdout.strip().splitlines()[-1])["runs"]] == [run_id]


def test_a_queued_run_stays_queued_after_a_rebuild(tmp_path):
    root = tmp_path / "runs"
    run_id = RunStore(root).create_run(tiny(name="waiting"))
    (root / "runs.sqlite").unlink()
    run = RunStore(root).get(run_id)
    assert (run.status, run.error, run.ended, run.name) == ("queued", None, None, "waiting")


def test_doctor_repair_rebuilds_a_database_damaged_inside(tmp_path):
    """Damage past the header is only found by an integrity check: doctor reports it, --repair rebuilds."""
    import sqlite3

    root = tmp_path / "runs"
    store = RunStore(root)
    ids = [recorded_run(store, name=f"r{i}") for i in range(12)]
    expected = {i: store.metric_rows(i) for i in ids}
    del store
    conn = sqlite3.connect(root / "runs.sqlite")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(root / "runs.sqlite", "r+b") as f:
        f.seek(4096 * 3)
        f.write(bytes(range(256)) * 48)             # three pages of b-tree nonsense
    store = RunStore(root)
    assert check(store) == ["runs.sqlite fails its integrity check (database disk image is malformed); --repair "
                            "rebuilds it from the run folders"]
    [line] = check(store, repair=True)
    assert line.startswith("runs.sqlite failed its integrity check") and "rebuilt 12 run(s)" in line
    fresh = RunStore(root)
    assert check(fresh) == [] and {i: fresh.metric_rows(i) for i in ids} == expected


@pytest.mark.slow
def test_database_deleted_under_a_background_run(tmp_path):
    """The issue's case with real processes: the trainer notices, rebuilds, and finishes into the new index."""
    import time

    from sslcore.runs import launch

    root = tmp_path / "runs"
    store = RunStore(root)
    run_id = launch(tiny(epochs=4, log_every=1, eval_at_end=False), store)
    deadline = time.time() + 240
    while time.time() < deadline and store.get(run_id).step < 3:
        time.sleep(0.2)
    for name in ("runs.sqlite", "runs.sqlite-wal", "runs.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    viewer = RunStore(root)                  # whoever looks first rebuilds; the trainer keeps writing there
    run = viewer.wait(run_id, timeout=300)
    assert run.status == "finished" and run.step == run.total_steps == 16, run.error
    assert [s for s, name, _ in viewer.metric_rows(run_id) if name == "loss"] == list(range(1, 17))
    # one trainer all along: the rebuilt row was 'running' (its process alive), never queued for a second one
    assert "resuming" not in (root / run_id / "log.txt").read_text()


def test_a_row_committed_to_the_deleted_file_after_the_rebuild_is_caught_up(tmp_path):
    root = tmp_path / "runs"
    trainer = RunStore(root)
    run_id = recorded_run(trainer, finish=None)
    (root / "runs.sqlite").unlink()
    viewer = RunStore(root)                              # rebuilds from the journal: steps 1–8
    old = trainer._local.conn                            # the trainer's write that was already under way …
    old.execute("INSERT INTO metrics VALUES (?, 9, 2.25, 'loss', 1.0, 0.0)", (run_id,))
    journal.append(root / run_id, "metrics", step=9, epoch=2.25, values={"loss": 1.0}, wall_time=0.0)
    trainer.log_metrics(run_id, 10, 2.5, {"loss": 0.5})   # … and its next one, which notices the new file
    assert [s for s, name, _ in viewer.metric_rows(run_id) if name == "loss"] == list(range(1, 11))
