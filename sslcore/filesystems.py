"""Which filesystem holds the runs folder, and the SQLite journal mode that is safe there.

SQLite's WAL mode keeps its shared-memory index in a ``-shm`` file that every process maps; that only works when
all of them run on one host, so on a network filesystem (NFS, SMB, Lustre, GPFS, Ceph, sshfs, …) readers on two
nodes can see a torn index and the store can be corrupted (sqlite.org/wal.html, "WAL does not work over a network
filesystem"). There the store uses the rollback journal (``DELETE``) with SQLite's ordinary file locks instead.

``SSL_LENS_JOURNAL_MODE`` = ``auto`` (default: detect from ``/proc/mounts``), ``wal`` or ``delete`` overrides the
detection, e.g. where ``/proc/mounts`` does not exist (macOS) or does not tell the truth (a FUSE mount of NFS).
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .errors import ConfigError

MOUNTS_FILE = "/proc/mounts"
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "9p", "lustre", "gpfs", "ceph", "glusterfs", "beegfs",
    "ocfs2", "gfs2", "fuse.sshfs", "fuse.glusterfs", "fuse.ceph-fuse", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone",
    "fuse.juicefs", "fuse.lizardfs", "fuse.moosefs"})
JOURNAL_MODES = ("auto", "wal", "delete")


def _unescape(field: str) -> str:
    """/proc/mounts writes a space in a mount point as \\040 (and tab, newline, backslash likewise)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: str | Path, mounts_file: str | Path | None = None) -> str | None:
    """The type (``ext4``, ``nfs4``, …) of the mount holding ``path``, or None where the mount table is unreadable."""
    try:
        table = Path(mounts_file or MOUNTS_FILE).read_text()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = _unescape(fields[1])
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):   # the longest mount point wins; a later mount over it too
            best, best_type = mount, fields[2]
    return best_type


def is_network_filesystem(fs_type: str | None) -> bool:
    return fs_type is not None and (fs_type in NETWORK_FILESYSTEMS or fs_type.startswith("nfs"))


def journal_mode(path: str | Path) -> str:
    """``"wal"`` on a local disk, ``"delete"`` on a network filesystem, or what ``SSL_LENS_JOURNAL_MODE`` says."""
    setting = os.environ.get("SSL_LENS_JOURNAL_MODE", "auto").strip().lower() or "auto"
    if setting not in JOURNAL_MODES:
        raise ConfigError(f"SSL_LENS_JOURNAL_MODE: must be one of {', '.join(JOURNAL_MODES)}, got {setting!r}")
    if setting != "auto":
        return setting
    return "delete" if is_network_filesystem(filesystem_type(path)) else "wal"


def set_journal_mode(conn: sqlite3.Connection, wanted: str, root: Path) -> str:
    """Put the database in ``wanted`` mode (a no-op when it is already); returns the mode it is in. Leaving WAL
    needs every other connection closed: where that fails on a network filesystem, say so in one line."""
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode == wanted:
        return mode
    try:
        return conn.execute(f"PRAGMA journal_mode={wanted}").fetchone()[0]
    except sqlite3.OperationalError as e:
        if wanted != "delete" or "locked" not in str(e):
            raise
        raise ConfigError(f"runs_dir: {root} is on a network filesystem, where its runs.sqlite must leave WAL mode, "
                          f"but another process holds it open; stop the app and the runs using it, then retry"
                          ) from None
