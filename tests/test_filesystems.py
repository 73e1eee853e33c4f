"""The runs folder's filesystem decides SQLite's journal mode: WAL on a local disk, the rollback journal on a
network filesystem (WAL's shared-memory index cannot span hosts). Real SQLite, a mount table written by the test."""
import sqlite3

import pytest

from sslcore import filesystems
from sslcore.errors import ConfigError
from sslcore.filesystems import filesystem_type, is_network_filesystem, journal_mode
from sslcore.runs import RunStore


def mounts(tmp_path, *lines: str):
    path = tmp_path / "mounts"
    path.write_text("".join(f"{line} rw,relatime 0 0\n" for line in lines))
    return path


def test_longest_mount_point_wins_and_escaped_spaces_are_read(tmp_path):
    table = mounts(tmp_path, "/dev/sda1 / ext4", "server:/export /mnt/shared nfs4",
                   "/dev/sdb1 /mnt/shared/local\\040disk xfs", "tmpfs /mnt/sharedx tmpfs")
    assert filesystem_type("/home/me/runs", table) == "ext4"
    assert filesystem_type("/mnt/shared", table) == "nfs4"
    assert filesystem_type("/mnt/shared/runs/a", table) == "nfs4"
    assert filesystem_type("/mnt/shared/local disk/runs", table) == "xfs"
    assert filesystem_type("/mnt/sharedx/runs", table) == "tmpfs"   # a prefix of the name is not a parent folder
    assert filesystem_type("/x", tmp_path / "no-such-file") is None


@pytest.mark.parametrize("fs, network", [("nfs", True), ("nfs4", True), ("cifs", True), ("fuse.sshfs", True),
                                         ("lustre", True), ("gpfs", True), ("ceph", True), ("ext4", False),
                                         ("xfs", False), ("tmpfs", False), ("overlay", False), (None, False)])
def test_network_filesystems(fs, network):
    assert is_network_filesystem(fs) is network


def network_mount_of(path, tmp_path, monkeypatch, fs="nfs4"):
    monkeypatch.setattr(filesystems, "MOUNTS_FILE", str(mounts(tmp_path, "/dev/sda1 / ext4",
                                                                f"server:/runs {path.resolve()} {fs}")))


def test_store_on_a_network_filesystem_uses_the_rollback_journal(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_LENS_JOURNAL_MODE", raising=False)
    runs = tmp_path / "shared" / "runs"
    runs.mkdir(parents=True)
    network_mount_of(runs.parent, tmp_path, monkeypatch)
    store = RunStore(runs)
    assert store.journal_mode == "delete"
    # The store works as ever: write, then read back through another store object.
    with store._tx() as db:
        db.execute("INSERT INTO runs (id, name, method, dataset, status, requested_device, created) "
                   "VALUES ('r1', 'r1', 'simclr', 'shapes', 'finished', 'cpu', 0)")
    assert [r.id for r in RunStore(runs).list_runs(refresh=False)] == ["r1"]
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not (runs / "runs.sqlite-wal").exists() and not (runs / "runs.sqlite-shm").exists()


def test_local_store_keeps_wal(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_LENS_JOURNAL_MODE", raising=False)
    monkeypatch.setattr(filesystems, "MOUNTS_FILE", str(mounts(tmp_path, "/dev/sda1 / ext4")))
    store = RunStore(tmp_path / "runs")
    assert store.journal_mode == "wal"
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_wal_store_moved_to_a_network_filesystem_is_converted(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_LENS_JOURNAL_MODE", raising=False)
    runs = tmp_path / "runs"
    RunStore(runs)._conn().close()   # written on a local disk, in WAL mode
    network_mount_of(runs, tmp_path, monkeypatch)
    assert RunStore(runs).journal_mode == "delete"
    with sqlite3.connect(runs / "runs.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_wal_store_held_open_elsewhere_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_LENS_JOURNAL_MODE", raising=False)
    runs = tmp_path / "runs"
    RunStore(runs)
    other = sqlite3.connect(runs / "runs.sqlite")   # e.g. an app on another node still using WAL
    other.execute("SELECT COUNT(*) FROM runs").fetchall()
    network_mount_of(runs, tmp_path, monkeypatch)
    try:
        with pytest.raises(ConfigError, match="network filesystem") as e:
            RunStore(runs)
        assert "\n" not in str(e.value)
    finally:
        other.close()


def test_setting_overrides_detection(tmp_path, monkeypatch):
    network_mount_of(tmp_path, tmp_path, monkeypatch)
    monkeypatch.setenv("SSL_LENS_JOURNAL_MODE", "wal")
    assert journal_mode(tmp_path) == "wal"
    monkeypatch.setenv("SSL_LENS_JOURNAL_MODE", "DELETE")
    assert journal_mode(tmp_path / "elsewhere") == "delete"
    monkeypatch.setenv("SSL_LENS_JOURNAL_MODE", "memory")
    with pytest.raises(ConfigError, match="SSL_LENS_JOURNAL_MODE"):
        journal_mode(tmp_path)
