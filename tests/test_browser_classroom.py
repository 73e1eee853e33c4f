"""Classroom mode in a real browser: hostile run names and a crafted link, as a student would send them, render as
text on every page — Chromium draws no link or image from them and fetches nothing from the address they name —
and no page offers a path input. `streamlit run app.py -- --classroom` headless on a free port, Playwright with
Debian's Chromium (helpers from test_browser.py)."""
from __future__ import annotations

import http.server
import re
import threading
import urllib.parse
from pathlib import Path

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, assert_clean, serve_app, settle

pytestmark = pytest.mark.browser


class _Trap(http.server.BaseHTTPRequestHandler):
    """Counts every request: the address the payloads point at. A rendered image or a followed link would hit it."""
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 — http.server's name
        _Trap.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def trap():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory, trap) -> tuple[Path, dict[str, str]]:
    from sslcore.config import RunConfig
    from sslcore.runs import RunStore
    from sslcore.worker import execute_run

    names = {"image": f"![p]({trap}/pixel.png) **HACKED**", "html": "<img src=x onerror=alert(1)>"}
    root = tmp_path_factory.mktemp("classroom-browser")
    store = RunStore(root)
    for name in names.values():
        cfg = RunConfig().replace(name=name, train_size=64, test_size=100, image_size=16, batch_size=16,
                                  projector_dim=32, epochs=1, log_every=1, snapshot_every=2, device="cpu")
        run_id = store.create_run(cfg, status="running")
        store.claim_foreground(run_id, "cpu")
        assert execute_run(store, run_id).status == "finished"
    return root, names


@pytest.fixture(scope="module")
def classroom_server(hostile_runs):
    root, _ = hostile_runs
    with serve_app(root, "--classroom", SSL_LENS_TEACHER_PASSCODE="open sesame") as url:
        yield url


def test_hostile_names_and_links_render_as_text(classroom_server, hostile_runs, trap):
    from playwright.sync_api import sync_playwright

    from sslcore.runs import RunStore

    root, names = hostile_runs
    ids = [r.id for r in RunStore(root).list_runs()]
    link = f"x` [Log in again]({trap}/login) `"
    pages = {
        "home": "/", "train": "/train", "class": "/leaderboard",
        "compare": "/compare?runs=" + urllib.parse.quote(",".join(ids + [link])),
        "monitor": "/monitor?run=" + urllib.parse.quote(link),
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for where, path in pages.items():
            page.goto(classroom_server + path)
            settle(page)
            assert_clean(page, where)
            app = page.locator("[data-testid=stApp]")
            assert app.locator(f'a[href^="{trap}"]').count() == 0, where
            assert app.locator(f'img[src^="{trap}"], img[src="x"]').count() == 0, where
            assert app.locator("strong, em").filter(has_text=re.compile(r"^\s*HACKED\s*$")).count() == 0, where
            if where in ("home", "train", "compare"):
                assert page.get_by_text("**HACKED**", exact=False).count() > 0, where   # shown, as typed
                assert page.get_by_text(names["html"], exact=False).count() > 0, where
            if where in ("compare", "monitor"):
                assert page.get_by_text("[Log in again]", exact=False).count() > 0, where
            if where == "train":
                assert page.get_by_label("Data folder").count() == 0
                assert page.get_by_text("Download cifar10").count() == 0
        browser.close()
    assert _Trap.hits == []   # nothing was fetched from the address the payloads name
