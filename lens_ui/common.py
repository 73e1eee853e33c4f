"""What every page shares: the cached run store, the sidebar, run pickers driven by the URL, and error guards.

Pages call ``store()`` for the ``RunStore`` of the runs folder (``$SSL_LENS_RUNS``, else ``./runs``), ``pick_run`` /
``pick_runs`` to choose runs (kept in the URL's query parameters so a link can be shared), and run their work
inside ``guard(...)`` so an error is a clear ``st.error`` rather than a traceback page.
"""
from __future__ import annotations

import functools
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import streamlit as st

from lens_ui import classroom
from lens_ui.live_cache import upkeep
from lens_ui.text import plain
from sslcore.config import ConfigError
from sslcore.errors import StoreError
from sslcore.runs import RunInfo, RunNotFound, RunStore, default_runs_dir

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"

STATUS_ICONS = {"queued": "⏳", "running": "🏃", "finished": "✅", "failed": "❌", "cancelled": "⏹️",
                "diverged": "💥"}
STATUS_COLOURS = {"queued": "gray", "running": "blue", "finished": "green", "failed": "red", "cancelled": "orange",
                  "diverged": "violet"}
STATUS_HELP = {
    "queued": "waiting for a free device slot",
    "running": "training in a background process",
    "finished": "trained to the last epoch",
    "failed": "stopped by an error (see the message); resume continues from the last checkpoint",
    "cancelled": "stopped by you; resume continues from the last checkpoint",
    "diverged": "the loss became NaN or infinite; lower the learning rate and resume or start again",
}

# Page files, so pages can link to one another with st.page_link / st.switch_page.
PAGES = {name: f"app_pages/{name}.py" for name in ("home", "augmentations", "train", "monitor", "embeddings",
                                                    "compare", "sweeps")}


# ---------------------------------------------------------------------------------------------------------------
# Assets
# ---------------------------------------------------------------------------------------------------------------
@functools.cache
def asset(name: str) -> str:
    """The text of ``assets/<name>`` (explanations are markdown files, not strings in page code)."""
    return (ASSETS / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Store and device
# ---------------------------------------------------------------------------------------------------------------
def runs_dir() -> Path:
    return default_runs_dir().resolve()


@st.cache_resource(show_spinner=False)
def _store_for(path: str) -> RunStore:
    store = RunStore(path)
    upkeep(path)  # the store's repair runs in one thread per folder, never in a viewer's read
    return store


def store() -> RunStore:
    """The run store of the current runs folder, one per folder and process (``st.cache_resource``). What its
    self-repair did (a deleted or damaged runs.sqlite rebuilt from the run folders) and a read-only folder are
    said once per session, in one line."""
    s = _store_for(str(runs_dir()))
    for key, message in (("repair", s.repair_message), ("read_only", s.read_only and f"{s.root} is read-only: "
                                                          "runs are shown as last written; nothing can be started")):
        if message and st.session_state.get(f"store.said.{key}") != message:
            st.session_state[f"store.said.{key}"] = message
            st.toast(plain(message), icon="🛠️" if key == "repair" else "🔒")
    return s


def runs_or_stop(message: str, *, at_least: int = 1) -> list[RunInfo]:
    """Every run in the store. With fewer than ``at_least``: ``message`` and a link to Train, and with none the
    page stops there."""
    runs = store().list_runs()
    if len(runs) < at_least:
        st.info(message, icon="👈")
        st.page_link(PAGES["train"], label="Go to Train", icon="🏋️")
        if not runs:
            st.stop()
    return runs


@st.cache_resource(show_spinner=False)
def device_label() -> str:
    """Where ``device=auto`` trains on this machine, in words."""
    import torch

    from sslcore.train import resolve_device

    device = resolve_device("auto")
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def sidebar() -> None:
    """Runs folder and device, on every page."""
    with st.sidebar:
        if not classroom.on():  # a class has no use for the server's paths
            st.caption("**Runs folder**")
            st.code(str(runs_dir()), language=None, wrap_lines=True)
        st.caption(f"**Device** (auto): `{device_label()}`")
        try:
            runs = store().list_runs()
        except Exception as e:  # noqa: BLE001 — a broken runs folder must still leave the app usable
            st.error(f"The runs folder cannot be used: {plain(e)}")
            return
        active = [r for r in runs if r.active]
        if active:
            st.caption(f"{len(active)} run(s) active · {len(runs)} in total")
        else:
            st.caption(f"{len(runs)} run(s) in this folder")


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------
EXPECTED_ERRORS = (ConfigError, RunNotFound, FileNotFoundError, StoreError)


def show_error(e: BaseException, what: str = "") -> None:
    """A clear message; the traceback only inside a collapsed expander for unexpected errors."""
    prefix = f"{plain(what)}: " if what else ""   # messages quote names and ids as typed: text, never Markdown
    if isinstance(e, EXPECTED_ERRORS):
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        st.error(f"{prefix}{plain(message)}", icon="⚠️")
        return
    st.error(f"{prefix}{type(e).__name__}: {plain(e)}", icon="🚨")
    if classroom.on() and not classroom.is_teacher():
        return  # a traceback shows the server's paths and code: the teacher's to read
    with st.expander("Details for a bug report"):
        st.code("".join(traceback.format_exception(e)), language=None)


@contextmanager
def guard(what: str = "") -> Iterator[None]:
    """``with guard("Loading the run"):`` — any exception inside becomes an ``st.error``. Streamlit's own control
    flow (st.rerun, st.stop) derives from BaseException and passes through."""
    try:
        yield
    except Exception as e:  # noqa: BLE001
        show_error(e, what)


def guarded(what: str = "") -> Callable:
    """Decorator form of ``guard`` (for fragments, whose reruns bypass the page-level guard)."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with guard(what):
                return fn(*args, **kwargs)
        return inner
    return wrap


# ---------------------------------------------------------------------------------------------------------------
# Runs: labels and pickers
# ---------------------------------------------------------------------------------------------------------------
def status_badge(status: str) -> str:
    """Markdown for a coloured status badge."""
    return f":{STATUS_COLOURS.get(status, 'gray')}-badge[{STATUS_ICONS.get(status, '')} {status}]"


def run_label(r: RunInfo, *, status: bool = True) -> str:
    """How a run is named on the pages. Pickers leave the status out: a selectbox's option labels are not
    redrawn while its options stay the same, so a status there would go stale (the pages show it beside)."""
    name = r.name if r.name and r.name != r.id else r.id
    label = f"{name} · {r.method} on {r.dataset}"
    return f"{STATUS_ICONS.get(r.status, '')} {label} · {r.status}" if status else label


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def format_time(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else "—"


def _default_run(runs: list[RunInfo], prefer: str | None) -> str:
    if prefer == "active":
        # The run training now, else the next one the queue starts (the oldest queued; runs come newest first):
        # after launching a lesson that is its first run, not its last.
        running = [r for r in runs if r.status == "running"]
        queued = [r for r in runs if r.active]
        if running or queued:
            return (running[:1] or queued[-1:])[0].id
    if prefer == "finished":
        for r in runs:
            if r.status == "finished":
                return r.id
    return runs[0].id


def _in_runs_dir() -> str:
    """' in `<runs folder>`' for a message, except in classroom mode (a class is not told the server's paths)."""
    return "" if classroom.on() else f" in `{runs_dir()}`"


def pick_run(runs: list[RunInfo], *, key: str, param: str = "run", label: str = "Run",
             prefer: str | None = "active") -> RunInfo | None:
    """A run selectbox whose choice lives in the URL (``?run=ID``). A run id in the URL that does not exist
    shows a message and falls back to a default run. Returns None when there are no runs."""
    if not runs:
        return None
    by_id = {r.id: r for r in runs}
    wanted = st.query_params.get(param)
    seen_key = f"{key}__url"
    if wanted and wanted != st.session_state.get(seen_key):
        st.session_state[seen_key] = wanted      # a new link: it wins over the previous choice
        if wanted in by_id:
            st.session_state[key] = wanted
    if wanted and wanted not in by_id:
        st.warning(f"Run {plain(wanted)} from the link does not exist{_in_runs_dir()}; showing another run instead.",
                   icon="🔎")
    if st.session_state.get(key) not in by_id:
        st.session_state[key] = _default_run(runs, prefer)
    chosen = st.selectbox(label, list(by_id), format_func=lambda i: run_label(by_id[i], status=False), key=key)
    if st.query_params.get(param) != chosen:
        st.query_params[param] = chosen
        st.session_state[seen_key] = chosen
    return by_id[chosen]


def pick_runs(runs: list[RunInfo], *, key: str, param: str = "runs", label: str = "Runs",
              max_runs: int = 4) -> list[RunInfo]:
    """A multiselect of up to ``max_runs`` runs kept in the URL as ``?runs=ID1,ID2``; unknown ids get a message."""
    by_id = {r.id: r for r in runs}
    raw = st.query_params.get(param) or ""
    seen_key = f"{key}__url"
    wanted = [w for w in raw.split(",") if w]
    if raw and raw != st.session_state.get(seen_key):
        st.session_state[seen_key] = raw
        st.session_state[key] = [w for w in wanted if w in by_id][:max_runs]
    missing = [w for w in wanted if w not in by_id]
    if missing:
        st.warning(f"Run(s) {plain(', '.join(missing))} from the link do not exist{_in_runs_dir()}.", icon="🔎")
    if key not in st.session_state:
        st.session_state[key] = [r.id for r in runs if r.status == "finished"][:2] or [r.id for r in runs][:2]
    st.session_state[key] = [i for i in st.session_state[key] if i in by_id][:max_runs]
    chosen = st.multiselect(label, list(by_id), format_func=lambda i: run_label(by_id[i], status=False), key=key,
                            max_selections=max_runs)
    value = ",".join(chosen)
    if (st.query_params.get(param) or "") != value:
        if value:
            st.query_params[param] = value
        elif param in st.query_params:
            del st.query_params[param]
        st.session_state[seen_key] = value
    return [by_id[i] for i in chosen]


def page_header(title: str, intro_asset: str | None = None, *, expanded: bool = False,
                label: str = "How to read this page") -> None:
    st.title(title)
    if intro_asset:
        with st.expander(label, expanded=expanded):
            st.markdown(asset(intro_asset))
