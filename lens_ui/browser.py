"""The app in a real browser: ``streamlit run app.py`` headless on a free local port, driven by Playwright with
Debian's Chromium (/usr/bin/chromium, never a downloaded browser).

Shared by the browser tests (``tests/test_browser*.py``) and the README's screenshot tool (``lens_ui.screenshots``):
start the app on a runs folder, wait until a page has drawn, read its error boxes, find a scatter point whose hover
shows a thumbnail, and save a full-page PNG. Nothing here imports Streamlit; Playwright is imported when a browser
starts.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Flags that keep Chromium off the network and quiet (no QUIC, sync, component updates, first-run pages).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH, HEIGHT = 1400, 1000   # the pages' desktop size; screenshots grow the height to the page's
MAX_SHOT_HEIGHT = 5000


def missing() -> list[str]:
    """What this machine lacks to drive the app in a browser, each with how to install it (empty: nothing)."""
    out = []
    if not Path(CHROMIUM).exists():
        out.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        out.append("the playwright Python package (pip install playwright)")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with status {proc.returncode} before it answered; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s; see {log}")


def start_app(runs_dir: Path, *app_args: str, log: Path | None = None, app_dir: Path = ROOT, wait_s: float = 90,
              **env: str) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py [-- app_args]`` from ``app_dir`` on a free local port over ``runs_dir``; returns the
    server process (its own process group, for ``stop_app``) and its URL once it answers.

    ``env`` adds to the server's environment. UMAP is computed only when asked (``SSL_LENS_UMAP=manual``, unless
    ``env`` says ``auto``): its numba compile takes a minute of CPU. The server's output goes to ``log`` (default
    ``runs_dir/streamlit.log``)."""
    port = free_port()
    log = Path(log) if log else Path(runs_dir) / "streamlit.log"
    env = {**os.environ, "SSL_LENS_RUNS": str(runs_dir), "SSL_LENS_UMAP": "manual", "PYTHONUNBUFFERED": "1", **env}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                 "--server.port", str(port), "--server.address", "127.0.0.1",
                                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                                 *(("--", *app_args) if app_args else ())],
                                cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", wait_s, proc, log)
    except BaseException:
        stop_app(proc)
        raise
    return proc, f"http://127.0.0.1:{port}"


def stop_app(proc: subprocess.Popen) -> None:
    """Stop a server of ``start_app``: its whole process group, killed if it does not end within 10 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait(10)


@contextmanager
def serve_app(runs_dir: Path, *app_args: str, log: Path | None = None, **env: str) -> Iterator[str]:
    """``start_app`` for a ``with`` block: yields the URL, stops the server at the end."""
    proc, url = start_app(runs_dir, *app_args, log=log, **env)
    try:
        yield url
    finally:
        stop_app(proc)


@contextmanager
def chromium():
    """A headless Debian Chromium under Playwright; yields the Browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def settle(page, timeout: float = 90) -> None:
    """Wait until the script run is over (no 'running' indicator, no skeletons) and the app has drawn."""
    page.wait_for_selector("[data-testid=stApp]", timeout=timeout * 1000)
    deadline = time.time() + timeout
    quiet_since = None
    while time.time() < deadline:
        busy = (page.locator("[data-testid=stStatusWidget]").count()
                + page.locator("[data-testid=stSkeleton]").count())
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.0:
            return
        time.sleep(0.2)


def error_boxes(page) -> list[str]:
    """What went wrong on the page: Streamlit's exception boxes and the app's own 'unexpected error' boxes."""
    out = []
    if page.locator("[data-testid=stException], .stException").count():
        out.append("an exception box")
    if page.get_by_text("Details for a bug report").count():
        out.append("an 'unexpected error' box")
    return out


def choose(page, key: str, option) -> None:
    """Pick ``option`` (its text, or a compiled pattern) in the selectbox bound to the widget key ``key`` written
    with '-' for '.' (Streamlit's CSS class ``st-key-<key>``)."""
    page.locator(f".st-key-{key}").get_by_role("combobox").first.click()
    page.get_by_role("option", name=option, exact=isinstance(option, str)).first.click()
    settle(page)


def hover_thumbnail(page, plot, from_bottom: bool = False) -> tuple[float, float] | None:
    """Move the pointer over ``plot`` (the scatter's drag layer) on a 13 × 13 grid, row by row from the top (or the
    bottom), until the Embeddings page's hover thumbnail shows; returns where it showed, or None. The thumbnail is
    drawn below and right of the pointer: from the bottom, it covers the margin rather than the cloud."""
    box = plot.bounding_box()
    tip = page.locator("#ssl-lens-hover-tip")
    rows = [i / 14 for i in range(1, 14)]
    for fy in reversed(rows) if from_bottom else rows:
        for fx in [i / 14 for i in range(1, 14)]:
            at = (box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            page.mouse.move(*at)
            time.sleep(0.08)
            if tip.count() and tip.is_visible():
                return at
    return None


def screenshot(page, path: Path) -> Path:
    """Full-page PNG: Streamlit scrolls inside its main section, so grow the viewport to its height first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=stMain]');"
                           " return m ? m.scrollHeight : document.body.scrollHeight }")
    size = page.viewport_size or {"width": WIDTH, "height": HEIGHT}
    page.set_viewport_size({"width": size["width"], "height": int(min(max(900, height + 40), MAX_SHOT_HEIGHT))})
    time.sleep(1.0)   # plotly redraws its charts for the new height
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path
