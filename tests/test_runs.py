"""The run store and the launcher, with real processes: kill, cancel, resume, race and restart."""
import json
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from sslcore import methods
from sslcore.config import ConfigError, RunConfig
from sslcore.runs import RunNotFound, RunStore, launch, validate_run_id
from sslcore.worker import execute_run


def tiny(**kw) -> RunConfig:
    """A run that takes well under a second per epoch: 64 generated 16 px images, batch 16, small projector."""
    base = dict(train_size=64, image_size=16, batch_size=16, projector_dim=32, epochs=2, log_every=1,
                snapshot_every=2, device="cpu", lr=1e-3)
    return RunConfig().replace(**(base | kw))


def wait_for(predicate, timeout=60, poll=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not met in time")


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def test_a_run_created_running_is_not_failed_by_a_refresh_before_its_process_claims_it(store):
    """A foreground `train` creates its run running, then claims it: an app refreshing the store in between (another
    process) must leave it running, not mark it failed for a missing heartbeat."""
    run_id = store.create_run(tiny(), status="running")
    RunStore(store.root).refresh()
    run = store.get(run_id)
    assert run.status == "running" and run.error is None


def test_foreground_run_writes_everything_and_survives_restart(store):
    run_id = store.create_run(tiny(), status="running")
    store.claim_foreground(run_id, "cpu")
    run = execute_run(store, run_id)
    assert run.status == "finished" and run.step == run.total_steps == 8
    # A new process (here: a new store object) sees all of it.
    again = RunStore(store.root)
    metrics = again.metrics(run_id)
    for name in ("loss", "invariance", "redundancy", "lr", "pairs_per_s", "embedding_std", "rankme",
                 "alignment", "uniformity", "xcorr_diag", "xcorr_offdiag"):
        assert metrics[name]["step"] == list(range(1, 9)), name
    snaps = again.snapshots(run_id, "matrix")
    assert [s["step"] for s in snaps] == [1, 2, 4, 6, 8]
    block = again.load_snapshot(run_id, 8, "matrix")
    assert block.shape == (32, 32) and np.isfinite(block).all()
    assert [s for s, _ in again.checkpoints(run_id)] == [4, 8]
    state = again.load_checkpoint(run_id)
    assert state["step"] == 8 and state["epoch"] == 2
    assert (store.run_dir(run_id) / "config.json").exists()


def test_snapshot_block_is_capped(store):
    run_id = store.create_run(tiny(projector_dim=256, snapshot_size=128, epochs=1), status="running")
    execute_run(store, run_id)
    assert store.load_snapshot(run_id, 4, "matrix").shape == (128, 128)
    assert store.load_snapshot(run_id, 4, "xcorr").shape == (128, 128)


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "", "a/b", "..", "X" * 3, "run id"])
def test_crafted_run_ids_never_reach_the_filesystem(store, bad):
    with pytest.raises(RunNotFound):
        validate_run_id(bad)
    with pytest.raises(RunNotFound):
        store.get(bad)
    with pytest.raises(RunNotFound):
        store.run_dir(bad)


def test_cli_rejects_crafted_id_with_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(tmp_path), "status", "../x"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "not valid" in out.stderr


def test_divergence_keeps_last_good_checkpoint(store, monkeypatch):
    calls = {"n": 0}
    original = methods.METHODS["barlow_twins"].forward

    def poisoned(self, *args, **kw):
        out = original(self, *args, **kw)
        calls["n"] += 1
        if calls["n"] > 6:  # epoch 1 (4 steps) checkpoints fine, then the loss turns NaN
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(methods.METHODS["barlow_twins"], "forward", poisoned)
    run_id = store.create_run(tiny(epochs=3), status="running")
    run = execute_run(store, run_id)
    assert run.status == "diverged" and "loss became nan" in run.error
    assert [s for s, _ in store.checkpoints(run_id)] == [4]
    assert max(store.metrics(run_id)["loss"]["step"]) == 6


def test_crash_is_failed_with_last_line_and_traceback_in_log(store, tmp_path):
    cfg = tiny(dataset="folder", data_root=str(tmp_path / "no-such-folder"), image_size=16)
    run_id = store.create_run(cfg)   # launch() would refuse it up front (preflight); a folder can also vanish later
    store.schedule()
    run = store.wait(run_id, timeout=120)
    assert run.status == "failed"
    assert "no-such-folder" in run.error and "\n" not in run.error
    log = (store.run_dir(run_id) / "log.txt").read_text()
    assert "Traceback" in log and "no-such-folder" in log
    status = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(store.root), "status", run_id],
                            capture_output=True, text=True)
    assert "failed" in status.stdout and "no-such-folder" in status.stdout


@pytest.mark.slow
@pytest.mark.timeout(1500)   # generous on a busy machine: nothing here is timed
def test_sigkill_then_resume_keeps_history(store):
    run_id = launch(tiny(epochs=20, train_size=128), store)
    wait_for(lambda: len(store.checkpoints(run_id)) >= 2 and store.get(run_id).step >= 20, timeout=300)
    pid = store.get(run_id).pid
    os.kill(pid, signal.SIGKILL)
    # Reads are plain reads; the repair (the app's upkeep thread, the CLI) is refresh=True. How soon it notices
    # depends on the heartbeat's staleness window, not asserted here: a busy machine may take longer.
    run = wait_for(lambda: (r := store.get(run_id, refresh=True)).status == "failed" and r, timeout=120)
    assert "ended unexpectedly" in run.error
    last_ckpt = store.checkpoints(run_id)[-1][0]

    store.resume(run_id)
    log_before = (store.run_dir(run_id) / "log.txt").read_text()
    run = store.wait(run_id, timeout=900)
    assert run.status == "finished", (store.run_dir(run_id) / "log.txt").read_text()[-2000:]
    assert run.step == run.total_steps == 20 * 8
    log = (store.run_dir(run_id) / "log.txt").read_text()
    assert f"resuming from step {last_ckpt}" in log[len(log_before):]
    steps = store.metrics(run_id)["loss"]["step"]
    assert steps == list(range(1, run.total_steps + 1))  # nothing lost, nothing twice


@pytest.mark.slow
def test_cancel_stops_within_a_step_with_a_checkpoint(store):
    run_id = launch(tiny(epochs=200, train_size=128), store)
    wait_for(lambda: store.get(run_id).step >= 3, timeout=120)
    assert store.cancel(run_id) == "running"
    run = store.wait(run_id, timeout=30)
    assert run.status == "cancelled"
    ckpt_step = store.checkpoints(run_id)[-1][0]
    assert ckpt_step == store.load_checkpoint(run_id)["step"] >= 3
    assert run.step <= ckpt_step + 1
    store.resume(run_id)
    wait_for(lambda: store.get(run_id).step > ckpt_step + 2, timeout=120)
    store.cancel(run_id)
    assert store.wait(run_id, timeout=30).status == "cancelled"


def _launch_in_process(runs_dir, barrier, out):
    barrier.wait()
    out.put(launch(tiny(epochs=100, train_size=128), RunStore(runs_dir)))


@pytest.mark.slow
def test_single_slot_queue_under_racing_launches(store):
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_launch_in_process, args=(str(store.root), barrier, out)) for _ in range(3)]
    for p in procs:
        p.start()
    ids = sorted(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    statuses = [store.get(i).status for i in ids]
    assert statuses.count("running") == 1 and statuses.count("queued") == 2
    first = next(i for i in ids if store.get(i).status == "running")
    store.cancel(first)
    # The freed slot goes to the oldest queued run, by itself.
    wait_for(lambda: sum(store.get(i).status == "running" for i in ids) == 1
             and store.get(first).status == "cancelled", timeout=60)
    for i in ids:
        if store.get(i).status in ("queued", "running"):
            store.cancel(i)
    for i in ids:
        assert store.wait(i, timeout=60).status == "cancelled"


def test_cancel_queued_and_resume_rules(store):
    other = store.create_run(tiny(), status="running")
    store.claim_foreground(other, "cpu")       # holds the single CPU slot
    store.update(other, pid=os.getpid())
    queued = launch(tiny(), store)
    assert store.get(queued).status == "queued"
    assert store.cancel(queued) == "cancelled"
    with pytest.raises(ConfigError, match="only queued or running"):
        store.cancel(queued)
    with pytest.raises(ConfigError, match="only failed, cancelled or diverged"):
        store.resume(other)


def _write_metrics(runs_dir, run_id, offset, n):
    store = RunStore(runs_dir)
    for step in range(offset, offset + n):
        store.log_metrics(run_id, step, 0.0, {"loss": float(step), "a": 1.0, "b": 2.0})


def _poll(runs_dir, run_id, seconds):
    store = RunStore(runs_dir)
    end = time.time() + seconds
    while time.time() < end:
        store.metrics(run_id)
        store.list_runs()
        store.get(run_id)


def test_concurrent_writers_and_readers_lose_nothing(store):
    # Created 'running' with no trainer behind them, so nothing can start a worker that would truncate the rows
    # written here (a queued run did start when the store still repaired on every read).
    a = store.create_run(tiny(), status="running")
    b = store.create_run(tiny(), status="running")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_metrics, args=(str(store.root), run_id, 1 + k * 300, 300))
             for run_id in (a, b) for k in range(2)]
    procs += [ctx.Process(target=_poll, args=(str(store.root), a, 4)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs)
    for run_id in (a, b):
        rows = store.metric_rows(run_id)
        assert len(rows) == 600 * 3
        assert store.metrics(run_id)["loss"]["step"] == list(range(1, 601))
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_export_loads_into_plain_classes(store, tmp_path):
    run_id = store.create_run(tiny(epochs=1), status="running")
    execute_run(store, run_id)
    out = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(store.root), "--json", "export", run_id],
                         capture_output=True, text=True, check=True)
    path = json.loads(out.stdout.strip().splitlines()[-1])["path"]
    from sslcore.backbones import ConvNet
    net = ConvNet()
    net.load_state_dict(torch.load(path, weights_only=True))
    assert "how_to_load" in json.loads(open(path.replace(".pt", ".json")).read())
