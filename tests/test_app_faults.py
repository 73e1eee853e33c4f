"""The app on a damaged run store: a corrupt runs.sqlite is rebuilt and said in one toast, never a traceback
(the Train page once raised ``NameError: any_live``); a read-only store is shown as last written."""
from __future__ import annotations

import re
import sqlite3

from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, no_exception, open_page, texts, use_runs  # noqa: F401 — use_runs: a fixture
from test_store_repair import recorded_run

from sslcore.runs import RunStore


def test_pages_on_a_corrupt_store_show_the_runs_and_say_what_was_rebuilt(tmp_path, use_runs):  # noqa: F811
    root = use_runs(tmp_path / "runs")
    store = RunStore(root)
    run_id = recorded_run(store)
    store._local.conn.close()                  # no connection of this process may still see the good pages
    db = sqlite3.connect(root / "runs.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (root / side).unlink(missing_ok=True)
    (root / "runs.sqlite").write_bytes(b"garbage, not SQLite" * 100)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()      # the first page a visitor opens
    no_exception(at)
    toasts = [re.sub(r"\\(.)", r"\1", str(t.value)).replace("\u2060", "") for t in at.toast]   # as text, unescaped
    assert len(toasts) == 1 and toasts[0].startswith("runs.sqlite was damaged") and "rebuilt 1 run(s)" in toasts[0]
    at.switch_page("app_pages/train.py").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert run_id in texts(at) and not at.toast                       # said once per session
    for page in ("monitor", "home"):
        at = open_page(page, {"run": run_id})
        no_exception(at)
        assert not at.error, [e.value for e in at.error]
