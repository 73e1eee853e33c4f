"""The "live view" benchmark (issue 12): what watching a run costs the run.

It trains a fixed run in the background (Barlow Twins on ``digits``, 320 images, batch 32, projector 128, a metric
row every step), serves the app with ``streamlit run``, and measures training pairs/s in windows:

- with 0 viewers (between every watched window, so each ratio compares windows measured minutes apart at most);
- with 1 viewer: headless Chromium on the same machine, at normal priority, like a teacher's laptop;
- with 10 and 30 viewers: lightweight clients that speak Streamlit's websocket protocol (they ask for the Monitor
  page and rerun its fragments on the timers the server sets, as a browser does, but draw nothing — students'
  browsers run on their own machines), all in one asyncio process at ``nice 19`` (``--clients-nice``); the
  Streamlit server's own CPU is what is counted, the clients' is reported beside it.

and the Monitor lag: for every step logged during a window, the time from its metric row's ``wall_time`` to the
first moment a viewer shows that step or a later one (Chromium: the "Step" metric read from the page every 0.2 s;
protocol clients: the moment the message with the "Step" metric is taken from the socket).

What the protocol clients' lag measures: the server, as seen by a punctual client. A client answers each fragment
timer at a fixed rate, like the browser's ``setInterval`` (tick k due at start + k × period, whatever tick k − 1
did), and the process watches its own event loop (``LoopWatch``: a heartbeat every 5 ms; a gap over 20 ms is a
stall, when a message may have waited in the socket). Each window reports how late the headline ticks left
(``tick_late_max_s``), the loop's longest stall (``loop_stall_max_s``), and per lag sample the part the client's
own process may have added (``lag_client``: the receipt's wait for the loop plus its tick's lateness; the largest
is ``client_delay_max_s``). At nice 19 on the bench's 2 cores beside the 2-thread trainer that part stayed ≤ 0.03 s
(2026-11-26), so the lag is the timer's phase plus the server's answer. That lag does not include drawing (no
client draws) — the Chromium window's lag does.

Run it with ``python -m sslcore bench --case live_view`` (which runs ``python -m lens_ui.live_bench``), or directly:
``python -m lens_ui.live_bench [--window 20] [--app-dir DIR] [--viewers 0,1,10,30] [--clients-nice 19]``. It
prints a markdown table and, with ``--json``, one JSON object as the last line.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lens_ui.browser import CHROMIUM, ROOT, start_app, stop_app
from lens_ui.browser import chromium as headless_chromium

TICK = os.sysconf("SC_CLK_TCK")
# The run the issue measured: 17.3 steps/s unwatched on 2 cores.
RUN = dict(method="barlow_twins", dataset="digits", train_size=320, batch_size=32, projector_dim=128, epochs=100_000,
           log_every=1, snapshot_every=20, eval_at_end=False, online_probe=False, device="cpu",
           name="live-view bench")
CLIENTS_NICE = 19     # the protocol viewers' niceness (see the module docstring)


# ---------------------------------------------------------------------------------------------------------------
# Processes and CPU time
# ---------------------------------------------------------------------------------------------------------------
def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given live processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def descendants_named(word: str, ancestor: int | None = None) -> list[int]:
    """Live descendants of ``ancestor`` (default: this process) whose command line contains ``word`` — this
    bench's Chromium, not another one running on the machine."""
    ancestor = ancestor or os.getpid()
    parent, cmd = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
            except (OSError, IndexError, ValueError):
                pass

    def descends(pid: int) -> bool:
        for _ in range(64):
            pid = parent.get(pid, 0)
            if pid == ancestor:
                return True
            if pid <= 1:
                return False
        return False

    return [pid for pid, line in cmd.items() if word in line and descends(pid)]


# ---------------------------------------------------------------------------------------------------------------
# Viewers that speak Streamlit's protocol (students' browsers, minus the drawing)
# ---------------------------------------------------------------------------------------------------------------
HEARTBEAT_S = 0.005   # the clients' event loop is looked at this often ...
STALL_S = 0.02        # ... and a gap longer than this (beyond the heartbeat's own period) is a stall


class LoopWatch:
    """When this process's event loop did not run: every gap of more than ``STALL_S`` between two heartbeats
    (``HEARTBEAT_S`` apart), as (last run before it, first run after it). A message that arrived during a stall
    waited in the socket until the stall ended, so ``waited(t)`` bounds how long a receipt stamped ``t`` may have
    waited on this side — time that belongs to the client's machine, not to the server."""

    def __init__(self):
        self.stalls: list[tuple[float, float]] = []

    async def run(self, until: dict) -> None:
        last = time.time()
        while time.time() < until["t"]:
            await asyncio.sleep(HEARTBEAT_S)
            now = time.time()
            if now - last > HEARTBEAT_S + STALL_S:
                self.stalls.append((last, now))
            last = now

    def waited(self, t: float) -> float:
        """At most how long a receipt stamped ``t`` waited for this loop (0: no stall just before it)."""
        return max((t - a for a, b in self.stalls if a < t <= b + 2 * HEARTBEAT_S), default=0.0)


async def _viewer(url: str, run_id: str, until: dict, out: dict, watch: LoopWatch | None = None) -> None:
    """Open the Monitor of ``run_id`` like a browser tab and keep it open until ``until["t"]``: answer every
    auto_rerun timer the server sets at a fixed rate (a browser's ``setInterval``: tick k is due at start + k ×
    period, however late tick k − 1 was), report the large messages already held (so the server can send
    references), and record when the page finished its first run, the bytes received once ``until["window"]`` is
    set, every "Step" value shown (time, step, how long its receipt may have waited for this process's loop) and
    every headline tick (due, sent)."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    held: dict[str, int] = {}   # hashes of cacheable messages → the run they were last seen in
    timers: dict[str, float] = {}
    state = {"page": "", "run": 0}
    opened = time.time()

    def rerun(fragment: str = "") -> bytes:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string, cs.page_name = f"run={run_id}", "monitor"
        cs.page_script_hash = state["page"]
        if fragment:
            cs.fragment_id, cs.is_auto_rerun = fragment, True
        cs.cached_message_hashes.extend(h for h, seen in held.items() if seen >= state["run"] - 2)
        return msg.SerializeToString()

    # No keepalive pings: a browser sends none either, and a starved server must not cost the viewer its page.
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=60,
                                  ping_interval=None, close_timeout=2) as ws:
        await ws.send(rerun())

        async def tick(fragment: str, every: float) -> None:
            start, k = time.time(), 0
            while True:
                k += 1
                due = start + k * every
                await asyncio.sleep(max(0.0, due - time.time()))
                sent = time.time()
                await ws.send(rerun(fragment))
                if every == min(timers.values()):   # the headline's timer (the one that brings "Step")
                    out.setdefault("ticks", []).append((due, sent))

        tasks: dict[str, asyncio.Task] = {}
        try:
            while time.time() < until["t"]:
                try:
                    data = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except asyncio.TimeoutError:
                    continue
                except websockets.ConnectionClosed as e:
                    out["dropped"] = str(e)
                    break
                now = time.time()
                msg = ForwardMsg()
                msg.ParseFromString(data)
                kind = msg.WhichOneof("type")
                if until.get("window"):
                    out["bytes"] = out.get("bytes", 0) + len(data)
                if msg.metadata.cacheable and msg.hash:
                    held[msg.hash] = state["run"]
                if kind == "new_session":
                    state["page"] = msg.new_session.page_script_hash
                elif kind == "auto_rerun":  # as the browser does: a timer per fragment, reset if its period changes
                    fid, every = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
                    if timers.get(fid) != every:
                        if fid in tasks:
                            tasks.pop(fid).cancel()
                        timers[fid] = every
                        tasks[fid] = asyncio.create_task(tick(fid, every))
                elif kind == "stop_auto_rerun":
                    for fid in msg.stop_auto_rerun.fragment_ids:
                        if fid in tasks:
                            tasks.pop(fid).cancel()
                            timers.pop(fid, None)
                elif kind == "script_finished":
                    state["run"] += 1
                    out["runs"] = out.get("runs", 0) + 1
                    if "opened_s" not in out:
                        out["opened_s"] = now - opened
                elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    element = msg.delta.new_element
                    if element.WhichOneof("type") == "metric" and element.metric.label == "Step":
                        body = element.metric.body
                        if body.isdigit():
                            out.setdefault("steps", []).append((now, int(body),
                                                                watch.waited(now) if watch else 0.0))
        finally:
            for task in tasks.values():
                task.cancel()
    out["timers"] = sorted(timers.values())


async def _viewers(url: str, run_id: str, n: int, seconds: float, open_timeout: float = 90.0) -> list[dict]:
    """Open ``n`` viewers at once; when all have drawn their page (or after ``open_timeout``) print "ready" and
    keep them watching ``seconds`` more. Each viewer's output has its loop's stalls (``LoopWatch``)."""
    outs: list[dict] = [{} for _ in range(n)]
    until = {"t": time.time() + open_timeout + seconds}
    watch = LoopWatch()

    async def ready() -> None:
        deadline = time.time() + open_timeout
        while time.time() < deadline and not all("opened_s" in o for o in outs):
            await asyncio.sleep(0.1)
        until.update(t=time.time() + seconds, window=True)
        print("ready", flush=True)

    await asyncio.gather(ready(), watch.run(until), *(_viewer(url, run_id, until, o, watch) for o in outs))
    for o in outs:
        o["stalls"] = watch.stalls
    return outs


def protocol_viewers(url: str, run_id: str, n: int, seconds: float) -> list[dict]:
    return asyncio.run(_viewers(url, run_id, n, seconds))


# ---------------------------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------------------------
def first_shown(logged: list[tuple[int, float]], shown: list[tuple]) -> list[tuple[float, tuple]]:
    """For each (step, wall_time) logged: (seconds until a viewer first showed that step or a later one, that
    receipt) — ``shown`` holds (time, step, ...) receipts."""
    shown = sorted(shown)
    out = []
    for step, wall in logged:
        first = next((r for r in shown if r[1] >= step and r[0] >= wall - 0.05), None)
        if first is not None:
            out.append((max(0.0, first[0] - wall), first))
    return out


def lags(logged: list[tuple[int, float]], shown: list[tuple]) -> list[float]:
    """For each (step, wall_time) logged: seconds until a viewer first showed that step or a later one."""
    return [lag for lag, _ in first_shown(logged, shown)]


def client_delay(receipt: tuple, ticks: list[tuple[float, float]]) -> float:
    """How much of a protocol viewer's lag its own process may have added: how long the receipt (time, step,
    waited) may have waited for the viewer's event loop, plus how late the headline tick it answers (the last one
    sent before it) left, against its fixed-rate due time."""
    t, _, waited = receipt
    sent = [(due, at) for due, at in ticks if at <= t]
    return waited + (max(0.0, sent[-1][1] - sent[-1][0]) if sent else 0.0)


class Bench:
    def __init__(self, app_dir: Path, window: float, progress=print, clients_nice: int = CLIENTS_NICE):
        from sslcore.config import RunConfig
        from sslcore.runs import RunStore, launch

        self.window, self.progress, self.clients_nice = window, progress, clients_nice
        self.tmp = Path(tempfile.mkdtemp(prefix="live-bench-"))
        self.store = RunStore(self.tmp)
        from sslcore.config import FLAT_FIELDS

        # Options an older checkout lacks (e.g. online_probe) are left out, so --app-dir can measure it too.
        self.cfg = RunConfig().replace(**{k: v for k, v in RUN.items() if k in FLAT_FIELDS})
        self.run_id = launch(self.cfg, self.store)
        self.server, self.url = start_app(self.tmp, app_dir=app_dir, wait_s=120)
        deadline = time.time() + 300
        while self.store.get(self.run_id, refresh=True).step < 20:
            if time.time() > deadline or not self.store.get(self.run_id).active:
                raise RuntimeError(f"the bench run did not start: {self.store.get(self.run_id).error}")
            time.sleep(0.5)
        self.progress("live view: warming the server up (imports, first page) …")
        self._viewers(1, 1.0)[1]()

    def _viewers(self, n: int, seconds: float) -> tuple[subprocess.Popen, Any]:
        """``n`` protocol viewers in a child process at ``clients_nice``; returns when all have drawn the page."""
        cmd = [sys.executable, "-m", "lens_ui.live_bench", "_viewers", "--url", self.url.replace("http", "ws")
               + "/_stcore/stream", "--run", self.run_id, "--n", str(n), "--seconds", str(seconds)]
        child = subprocess.Popen(["nice", "-n", str(self.clients_nice), *cmd], cwd=ROOT, stdout=subprocess.PIPE,
                                 text=True)
        child.stdout.readline()  # "ready"
        return child, lambda: json.loads(child.communicate(timeout=120)[0].strip().splitlines()[-1])

    def close(self) -> None:
        stop_app(self.server)
        if self.store.get(self.run_id).active:
            self.store.cancel(self.run_id)
            self.store.wait(self.run_id, timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _steps(self) -> tuple[float, int]:
        return time.time(), self.store.get(self.run_id).step

    def _logged(self, t0: float, t1: float) -> list[tuple[int, float]]:
        m = self.store.metrics(self.run_id).get("loss", {"step": [], "wall_time": []})
        return [(s, w) for s, w in zip(m["step"], m["wall_time"]) if t0 <= w <= t1]

    def _rate(self, a: tuple[float, int], b: tuple[float, int]) -> float:
        return (b[1] - a[1]) * self.cfg.optim.batch_size / (b[0] - a[0])

    def unwatched(self) -> dict:
        self.progress("live view: 0 viewers …")
        cpu0, a = cpu_seconds([self.server.pid]), self._steps()
        time.sleep(self.window)
        b, cpu1 = self._steps(), cpu_seconds([self.server.pid])
        return {"viewers": 0, "pairs_s": self._rate(a, b), "server_cpu": (cpu1 - cpu0) / (b[0] - a[0])}

    def chromium(self) -> dict:
        """One Monitor tab in headless Chromium on this machine (normal priority)."""
        self.progress("live view: 1 viewer (Chromium) …")
        with headless_chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            opened = time.time()
            page.goto(f"{self.url}/monitor?run={self.run_id}")
            page.wait_for_selector("[data-testid=stMetric]", timeout=120_000)
            opened_s = time.time() - opened
            time.sleep(3)  # the page's first charts draw
            chrome = descendants_named("chromium")
            cpu0, bcpu0, a = cpu_seconds([self.server.pid]), cpu_seconds(chrome), self._steps()
            shown = []
            step_js = ("() => { for (const m of document.querySelectorAll('[data-testid=stMetric]')) {"
                       " if (m.innerText.startsWith('Step')) return m.querySelector("
                       "'[data-testid=stMetricValue]').innerText } return '' }")
            while time.time() < a[0] + self.window:
                value = page.evaluate(step_js).strip()
                if value.isdigit():
                    shown.append((time.time(), int(value)))
                time.sleep(0.2)
            b, cpu1, bcpu1 = self._steps(), cpu_seconds([self.server.pid]), cpu_seconds(chrome)
        lag = lags(self._logged(a[0], b[0] - 2.5), shown)
        return {"viewers": 1, "pairs_s": self._rate(a, b), "server_cpu": (cpu1 - cpu0) / (b[0] - a[0]),
                "browser_cpu": (bcpu1 - bcpu0) / (b[0] - a[0]), "opened_s": [opened_s], "lags": lag}

    def protocol(self, n: int) -> dict:
        """``n`` protocol viewers in a child process for one window (plus the time to open them)."""
        self.progress(f"live view: {n} viewers (protocol clients at nice {self.clients_nice}) …")
        child, results = self._viewers(n, self.window + 1)  # opening n pages at once is timed; then the window
        cpu0, ccpu0, a = cpu_seconds([self.server.pid]), cpu_seconds([child.pid]), self._steps()
        time.sleep(self.window)
        b, cpu1, ccpu1 = self._steps(), cpu_seconds([self.server.pid]), cpu_seconds([child.pid])
        outs = results()
        dropped = sum(1 for o in outs if "dropped" in o)
        logged = self._logged(a[0], b[0] - 2.5)
        samples = [(lag, client_delay(receipt, o.get("ticks", [])))
                   for o in outs for lag, receipt in first_shown(logged, [tuple(s) for s in o.get("steps", [])])]
        late = [max(0.0, sent - due) for o in outs for due, sent in o.get("ticks", []) if a[0] <= due <= b[0]]
        stalls = [y - x for x, y in (outs[0].get("stalls", []) if outs else []) if y >= a[0] and x <= b[0]]
        return {"viewers": n, "pairs_s": self._rate(a, b), "server_cpu": (cpu1 - cpu0) / (b[0] - a[0]),
                "clients_cpu": (ccpu1 - ccpu0) / (b[0] - a[0]), "clients_nice": self.clients_nice,
                "opened_s": [o.get("opened_s", float("inf")) for o in outs],
                "lags": [lag for lag, _ in samples], "lag_client": [c for _, c in samples],
                "tick_late_max_s": max(late, default=0.0), "loop_stall_max_s": max(stalls, default=0.0),
                "loop_stalls": len(stalls),
                "timers": outs[0].get("timers", []) if outs else [], "dropped": dropped,
                "mb_per_viewer_s": statistics.mean(o.get("bytes", 0) for o in outs) / (self.window + 1) / 1e6}


def measure(app_dir: Path = ROOT, window: float = 20.0, viewers: tuple[int, ...] = (1, 10, 30),
            progress=print, clients_nice: int = CLIENTS_NICE) -> dict:
    """Unwatched windows around every watched one; each watched window's ratio is to the mean of its two
    neighbours."""
    bench = Bench(app_dir, window, progress, clients_nice)

    def record(window: dict) -> None:
        windows.append(window)
        lag = window.get("lags") or []
        progress("  " + json.dumps({k: v for k, v in window.items() if k not in ("lags", "opened_s", "lag_client")}
                                   | {"opened_max_s": max(window.get("opened_s") or [0]),
                                      "lag_median_s": statistics.median(lag) if lag else None,
                                      "lag_max_s": max(lag, default=None),
                                      "client_delay_max_s": max(window.get("lag_client") or [0])}))

    windows: list[dict] = []
    try:
        record(bench.unwatched())
        for n in viewers:
            record(bench.chromium() if n == 1 else bench.protocol(n))
            record(bench.unwatched())
    finally:
        bench.close()
    return {"app": str(app_dir), "window_s": window, "run": RUN, "windows": windows}


def rows(result: dict) -> list[dict]:
    w = result["windows"]
    base_all = [x["pairs_s"] for x in w if x["viewers"] == 0]
    out = [{"case": "live view: training with nobody watching (Barlow Twins, digits 320, batch 32, projector 128)",
            "ours": f"{statistics.mean(base_all):,.0f} pairs/s", "reference": f"{len(base_all)} windows of "
            f"{result['window_s']:.0f} s: {', '.join(f'{b:,.0f}' for b in base_all)}", "ratio": 1.0,
            "goal": "the reference for the rows below"}]
    for i in range(1, len(w) - 1, 2):
        x, base = w[i], (w[i - 1]["pairs_s"] + w[i + 1]["pairs_s"]) / 2
        n, lag = x["viewers"], sorted(x["lags"])
        who = ("1 Monitor tab, Chromium on the same machine" if n == 1 else
               f"{n} Monitor viewers (protocol clients at nice {x.get('clients_nice', CLIENTS_NICE)}; server CPU "
               "counted)")
        lag_text = (f"lag median {statistics.median(lag):.2f} s, max {max(lag):.2f} s" if lag else "no lag sample")
        if lag and x.get("lag_client"):
            lag_text += f" (of which the clients' own process ≤ {max(x['lag_client']):.2f} s)"
        extra = (f"browser {x['browser_cpu']:.0%} of a core" if n == 1 else
                 f"clients {x['clients_cpu']:.0%} of a core, {x['mb_per_viewer_s']:.2f} MB/s per viewer")
        goal = "≥ 0.90 of unwatched" if n == 1 else "≥ 0.75 of unwatched (30 viewers); pages open ≤ 5 s"
        drawn = [t for t in x["opened_s"] if t != float("inf")]
        opened = (f"pages open in ≤ {max(drawn):.1f} s" if len(drawn) == n else
                  f"{n - len(drawn)} of {n} pages never drew" + (f", the others in ≤ {max(drawn):.1f} s"
                                                                 if drawn else ""))
        if x.get("dropped"):
            opened += f"; {x['dropped']} connections dropped"
        out.append({"case": f"live view: {who}",
                     "ours": f"{x['pairs_s']:,.0f} pairs/s; server {x['server_cpu']:.0%} of a core; {extra}; "
                             f"{opened}; {lag_text}",
                     "reference": f"{base:,.0f} pairs/s unwatched (windows before and after)",
                     "ratio": x["pairs_s"] / base, "goal": goal + "; lag median ≤ 1 s, max ≤ 2 s"})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lens_ui.live_bench", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    v = sub.add_parser("_viewers", help="(internal) run N protocol viewers and print what they saw as JSON")
    v.add_argument("--url", required=True)
    v.add_argument("--run", required=True)
    v.add_argument("--n", type=int, required=True)
    v.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--window", type=float, default=20.0, help="seconds per measured window (default 20)")
    ap.add_argument("--app-dir", default=str(ROOT), help="the app to serve (default: this checkout)")
    ap.add_argument("--viewers", default="1,10,30", help="watched windows, comma-separated (1 = Chromium)")
    ap.add_argument("--clients-nice", type=int, default=CLIENTS_NICE,
                    help=f"niceness of the protocol viewers' process (default {CLIENTS_NICE})")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    if args.cmd == "_viewers":
        print(json.dumps(protocol_viewers(args.url, args.run, args.n, args.seconds)))
        return 0
    try:
        viewers = tuple(int(x) for x in re.split(r"[ ,]+", args.viewers.strip()) if x)
    except ValueError:
        print(f"error: --viewers: {args.viewers!r} is not a comma-separated list of numbers", file=sys.stderr)
        return 2
    if 1 in viewers and not Path(CHROMIUM).exists():
        print(f"error: the 1-viewer window needs {CHROMIUM} (apt-get install -y chromium)", file=sys.stderr)
        return 2
    result = measure(Path(args.app_dir), args.window, viewers, progress=lambda m: print(m, file=sys.stderr),
                     clients_nice=args.clients_nice)
    result["rows"] = rows(result)
    result["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    result["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"machine: {result['machine']}; {result['measured']}; app: {args.app_dir}\n")
    print("| case | ours | reference | ratio | goal |\n|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['case']} | {r['ours']} | {r['reference']} | {r['ratio']:.2f} | {r['goal']} |")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
