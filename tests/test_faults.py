"""Faults of the disk under the run store, on real filesystems: a read-only bind mount and a full tmpfs (root
ignores permission bits, so chmod cannot make a folder read-only here). Each is answered in one line, the trainer
records the real cause and stops cleanly, and a run resumes once space returns."""
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sslcore.config import RunConfig
from sslcore.errors import StoreError
from sslcore.runs import RunStore
from sslcore.store_repair import STOPPED
from sslcore.worker import execute_run


def tiny(**kw) -> RunConfig:
    base = {"train_size": 64, "image_size": 16, "batch_size": 16, "projector_dim": 32, "epochs": 2,
            "log_every": 1, "snapshot_every": 2, "device": "cpu", "lr": 1e-3, "eval_at_end": False}
    return RunConfig().replace(**(base | kw))


def sslcore(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(root), *args], capture_output=True,
                          text=True, timeout=300, check=False)


def mount(*args: str) -> bool:
    return os.geteuid() == 0 and subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MiB filesystem (tmpfs): writes past it fail with ENOSPC, as on a full disk."""
    path = tmp_path / "disk"
    path.mkdir()
    if not mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(path)):
        pytest.skip("mounting a small tmpfs needs root and CAP_SYS_ADMIN")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Write a filler file until only ``leave`` bytes are free."""
    filler = disk / "filler"
    with open(filler, "ab") as f:
        while True:
            st = os.statvfs(disk)
            free = st.f_bavail * st.f_frsize - leave
            if free <= 0:
                break
            try:
                f.write(b"\0" * min(free, 1 << 20))
                f.flush()
            except OSError as e:
                assert e.errno == errno.ENOSPC
                break
    return filler


@pytest.fixture
def read_only_copy(tmp_path):
    """``make(src)``: a read-only bind mount of the folder ``src`` (what a read-only share or disk looks like)."""
    mounted = []

    def make(src: Path) -> Path:
        dst = tmp_path / f"ro{len(mounted)}"
        dst.mkdir()
        if not (mount("--bind", str(src), str(dst)) and mount("-o", "remount,ro,bind", str(dst))):
            pytest.skip("a read-only bind mount needs root and CAP_SYS_ADMIN")
        mounted.append(dst)
        return dst

    yield make
    for dst in mounted:
        subprocess.run(["umount", "-l", str(dst)], check=False)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def a_finished_run(root: Path, status: str = "finished") -> str:
    store = RunStore(root)
    run_id = store.create_run(tiny(name="before"))
    store.log_metrics(run_id, 1, 0.25, {"loss": 3.0})
    store.finish(run_id, status)
    return run_id


# ---- read-only ------------------------------------------------------------------------------------------------
def test_read_only_runs_folder_lists_and_refuses_writes_in_one_line(tmp_path, read_only_copy):
    run_id = a_finished_run(tmp_path / "runs", "cancelled")
    ro = read_only_copy(tmp_path / "runs")

    out = sslcore(ro, "runs")
    assert out.returncode == 0 and run_id in out.stdout
    assert one_line(out.stderr).startswith(f"note: {ro} is read-only")
    status = sslcore(ro, "status", run_id)
    assert status.returncode == 0 and "cancelled" in status.stdout
    for args in (["launch", "--train-size", "64", "--image-size", "16", "--batch-size", "16"], ["resume", run_id]):
        out = sslcore(ro, *args)
        assert out.returncode == 1, args
        assert one_line(out.stderr).startswith(f"error: {ro} is read-only"), args


def test_read_only_folder_without_a_database_is_shown_rebuilt_in_memory(tmp_path, read_only_copy):
    run_id = a_finished_run(tmp_path / "runs")
    for name in ("runs.sqlite", "runs.sqlite-wal", "runs.sqlite-shm"):
        (tmp_path / "runs" / name).unlink(missing_ok=True)
    ro = read_only_copy(tmp_path / "runs")
    store = RunStore(ro)
    assert store.read_only and store.get(run_id).name == "before"
    assert store.repair_message.startswith("runs.sqlite was missing: rebuilt 1 run(s)")
    with pytest.raises(StoreError, match="read-only"):
        store.update(run_id, name="x")


def test_trainer_on_a_read_only_folder_says_why_in_one_line(tmp_path, read_only_copy):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(tiny())
    ro = read_only_copy(tmp_path / "runs")
    out = sslcore(ro, "_worker", run_id)
    assert out.returncode == 1
    assert one_line(out.stderr).startswith(f"error: {ro} is read-only")


# ---- disk full --------------------------------------------------------------------------------------------------
def test_full_disk_is_said_not_hidden_behind_cannot_rollback(small_disk):
    store = RunStore(small_disk / "runs")
    run_id = store.create_run(tiny())
    filler = fill(small_disk)
    with pytest.raises(StoreError) as e:
        for step in range(1, 200):     # the first write that needs a new block fails
            store.log_metrics(run_id, step, 0.0, {f"metric_{i}": float(i) for i in range(50)})
    message = str(e.value)
    assert "is full" in message and "rollback" not in message and "\n" not in message
    filler.unlink()
    store.log_metrics(run_id, 999, 1.0, {"loss": 1.0})          # space is back: the same store writes again
    assert store.metrics(run_id)["loss"]["step"][-1] == 999


def test_trainer_stopped_by_a_full_disk_records_why_and_resumes(small_disk, capsys):
    store = RunStore(small_disk / "runs")
    run_id = store.create_run(tiny(), status="running")
    real_save = store.save_checkpoint
    filled = []

    def save_on_a_full_disk(run_id_, step, state):
        if not filled:  # the disk fills up just before the first checkpoint (1.2 MB) but leaves the index room
            filled.append(fill(small_disk, leave=256 * 1024))
        return real_save(run_id_, step, state)

    store.save_checkpoint = save_on_a_full_disk
    run = execute_run(store, run_id)
    assert run.status == "failed"
    assert run.error.startswith(f"the disk holding {store.root} is full") and "\n" not in run.error
    assert f"{STOPPED}the disk holding" in capsys.readouterr().out          # log.txt of a background run
    assert not list((store.run_dir(run_id) / "checkpoints").iterdir())     # no half-written temp file left
    out = sslcore(store.root, "status", run_id)
    assert out.returncode == 0 and "is full" in out.stdout

    filled[0].unlink()                                 # space returns; resume continues the run
    store.save_checkpoint = real_save
    run = execute_run(store, run_id)
    assert run.status == "finished" and run.step == run.total_steps == 8
    assert [s for s, _ in store.checkpoints(run_id)] == [4, 8]


def test_a_trainer_that_could_not_record_its_end_is_failed_with_its_last_words(tmp_path):
    """Disk full even for the index: the trainer's last log line is the cause the store shows once it is gone."""
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(tiny())
    store.update(run_id, status="running", pid=2**22 + 777, heartbeat=time.time() - 600, started=time.time() - 600)
    cause = f"{STOPPED}the disk holding {store.root} is full (database or disk is full); free some space"
    (store.run_dir(run_id) / "log.txt").write_text(f"epoch 1 done at step 4\n{cause}\n")
    store.refresh()
    run = store.get(run_id)
    assert run.status == "failed" and run.error == cause


# ---- files ------------------------------------------------------------------------------------------------------
def test_retention_keeps_the_last_two_every_nth_and_the_final():
    from types import SimpleNamespace

    from sslcore.train import Trainer

    cfg = tiny(epochs=12)
    trainer = SimpleNamespace(cfg=cfg, steps_per_epoch=4, total_steps=48)
    steps = [4 * e for e in range(1, 13)]
    assert Trainer.kept_checkpoints(trainer, steps) == {20, 40, 44, 48}
    assert Trainer.kept_checkpoints(trainer, steps[:7]) == {20, 24, 28}
    trainer.cfg = tiny(epochs=12).replace(keep_last=3, keep_every=0)
    assert Trainer.kept_checkpoints(trainer, steps) == {40, 44, 48}


def test_interrupted_checkpoint_write_is_cleaned_and_old_checkpoints_pruned(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(tiny(epochs=4, keep_every=0), status="running")
    leftover = store.run_dir(run_id) / "checkpoints" / f".step_00000008.pt.{2**22 + 99}.tmp"
    leftover.write_bytes(b"\0" * 100_000)              # a checkpoint write killed half-way, by a dead process
    run = execute_run(store, run_id)
    assert run.status == "finished"
    assert not leftover.exists()
    assert [s for s, _ in store.checkpoints(run_id)] == [12, 16]


def test_commands_on_a_full_disk_list_the_runs_and_say_why_in_one_line(small_disk):
    store = RunStore(small_disk / "runs")
    run_id = store.create_run(tiny())
    store.update(run_id, status="running", pid=2**22 + 778, heartbeat=time.time() - 600, started=time.time() - 600)
    filler = fill(small_disk)
    out = sslcore(store.root, "runs")       # its upkeep would mark the dead run failed: that write cannot be made
    assert out.returncode == 0 and run_id in out.stdout
    assert one_line(out.stderr).startswith(f"note: the disk holding {store.root} is full")
    out = sslcore(store.root, "resume", run_id)
    assert out.returncode == 1
    line = one_line(out.stderr)
    assert line.startswith(f"error: the disk holding {store.root} is full") and "rollback" not in line
    filler.unlink()
    out = sslcore(store.root, "status", run_id)
    assert out.returncode == 0 and "failed" in out.stdout and not out.stderr.strip()
