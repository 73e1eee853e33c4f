"""The live-view bench's own parts (lens_ui/live_bench.py): the lag it computes, the rows it prints, and its
protocol viewers against a real `streamlit run app.py`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lens_ui import live_bench
from lens_ui.browser import start_app, stop_app
from sslcore.config import RunConfig
from sslcore.runs import RunStore

ROOT = Path(__file__).resolve().parent.parent


def test_lag_is_the_time_until_that_step_or_a_later_one_is_shown():
    logged = [(1, 10.0), (2, 10.5), (3, 11.0), (4, 11.9)]
    shown = [(10.2, 1), (11.3, 3), (9.0, 0)]   # step 2 first appears as step 3; step 4 never within the window
    assert live_bench.lags(logged, shown) == pytest.approx([0.2, 0.8, 0.3])


def test_client_delay_is_the_loop_stall_before_a_receipt_plus_the_late_tick_it_answers():
    watch = live_bench.LoopWatch()
    watch.stalls = [(10.0, 10.4), (20.0, 20.05)]
    assert watch.waited(10.4) == pytest.approx(0.4)      # stamped as the stall ended: it may have waited all of it
    assert watch.waited(10.2) == pytest.approx(0.2)
    assert watch.waited(12.0) == 0.0                     # the loop ran just before: no wait on this side
    ticks = [(9.0, 9.0), (10.0, 10.3), (11.0, 11.0)]     # (due, sent): the tick due at 10.0 left 0.3 s late
    assert live_bench.client_delay((10.4, 7, watch.waited(10.4)), ticks) == pytest.approx(0.7)
    assert live_bench.client_delay((11.2, 8, watch.waited(11.2)), ticks) == pytest.approx(0.0)


def test_rows_compare_each_watched_window_with_its_unwatched_neighbours():
    windows = [{"viewers": 0, "pairs_s": 100.0, "server_cpu": 0.0},
               {"viewers": 10, "pairs_s": 90.0, "server_cpu": 0.2, "clients_cpu": 0.01, "opened_s": [1.0, 2.5],
                "lags": [0.4, 0.9, 1.2], "mb_per_viewer_s": 0.01},
               {"viewers": 0, "pairs_s": 80.0, "server_cpu": 0.0}]
    rows = live_bench.rows({"window_s": 20, "windows": windows})
    assert len(rows) == 2
    assert rows[1]["ratio"] == pytest.approx(1.0)   # 90 against the mean of 100 and 80
    assert "10 Monitor viewers" in rows[1]["case"] and "server 20% of a core" in rows[1]["ours"]
    assert "8 of 10 pages never drew, the others in ≤ 2.5 s" in rows[1]["ours"]
    assert "lag median 0.90 s, max 1.20 s" in rows[1]["ours"]
    windows[1]["lag_client"] = [0.01, 0.03, 0.02]
    assert "(of which the clients' own process ≤ 0.03 s)" in live_bench.rows({"window_s": 20,
                                                                               "windows": windows})[1]["ours"]
    windows[1]["opened_s"] = [1.0] * 9 + [2.5]
    assert "pages open in ≤ 2.5 s" in live_bench.rows({"window_s": 20, "windows": windows})[1]["ours"]


def test_bench_refuses_an_unknown_case_in_one_line():
    out = subprocess.run([sys.executable, "-m", "sslcore", "bench", "--case", "nope"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode != 0 and "live_view" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_protocol_viewers_open_the_monitor_of_a_real_server(tmp_path):
    store = RunStore(tmp_path)
    cfg = RunConfig().replace(train_size=64, image_size=16, batch_size=16, projector_dim=32, epochs=1, log_every=1,
                              device="cpu")
    run_id = store.create_run(cfg, status="running", total_steps=4)
    store.claim_foreground(run_id, "cpu")
    store.log_metrics(run_id, 3, 0.5, {"loss": 1.0})
    server, url = start_app(tmp_path)
    try:
        outs = live_bench.protocol_viewers(url.replace("http", "ws") + "/_stcore/stream", run_id, 2, 3.0)
    finally:
        stop_app(server)
        store.finish(run_id, "finished")
    for out in outs:
        assert "opened_s" in out and out["runs"] >= 1
        assert out["steps"][0][1] == 3                          # the Monitor's "Step" metric, as sent to a browser
        assert 1.0 in out["timers"]                            # the headline fragment's 1 s refresh timer
