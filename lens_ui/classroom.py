"""Classroom mode: one server, a class of browsers on a network nobody vouches for.

Switched on with ``streamlit run app.py -- --classroom`` (or ``SSL_LENS_CLASSROOM=1``). In it:

- no server path comes from the browser: the datasets are the embedded ones, those the teacher registered at
  start-up (``--data NAME=PATH``, or ``SSL_LENS_CLASS_DATA="NAME=PATH;NAME=PATH"``) and the class's uploads under
  ``<runs_dir>/datasets/<name>/``; names are mapped to paths here, on the server;
- every run is checked against the room's caps (``sslcore.limits.CLASSROOM``, changed at start-up with
  ``--cap epochs=30`` / ``SSL_LENS_CAPS="epochs=30,batch_size=256"`` or by the teacher on the Class page);
- each browser picks a display name once; the page address then carries a random token (``?me=…``) that proves it,
  so a reload keeps the name and another browser cannot take it. Runs record their owner; a person cancels,
  resumes and deletes only their own runs;
- the teacher's passcode (``SSL_LENS_TEACHER_PASSCODE``, never on the command line where ``ps`` shows it; compared
  in constant time) unlocks managing every run and changing the caps.

Outside classroom mode nothing here changes the app: ``launch`` is ``sslcore.runs.launch`` and everyone may manage
every run, as on a laptop. The module imports nothing from ``lens_ui.common`` (which imports it).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import streamlit as st

from sslcore.config import RunConfig
from sslcore.data import DATASETS
from sslcore.data.uploads import DATASET_NAME, list_uploaded, resolve_uploaded
from sslcore.errors import ConfigError
from sslcore.limits import CLASSROOM, Limits
from sslcore.runs import RunInfo, RunStore, default_runs_dir
from sslcore.runs import launch as store_launch

ENV_VARS = ENV_ON, ENV_PASSCODE, ENV_DATA, ENV_CAPS = ("SSL_LENS_CLASSROOM", "SSL_LENS_TEACHER_PASSCODE",
                                                       "SSL_LENS_CLASS_DATA", "SSL_LENS_CAPS")
TOKEN_PARAM = "me"                       # the page-address parameter that carries a browser's identity token
NAME_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,32}")
CAP_FIELDS = {"epochs": "epochs", "batch_size": "batch size", "image_size": "image size (px)",
              "projector_dim": "projector dimension", "train_images": "training images",
              "queued_per_owner": "runs queued or running per person"}
WRONG_PASSCODE_DELAY_S = 1.0             # every wrong passcode costs a second, server-wide: guessing stays slow
_GUESSES = threading.Lock()


# ---------------------------------------------------------------------------------------------------------------
# Settings: what the teacher chose at start-up (pure, so the tests can build them)
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSource:
    """What a dataset name the browser may send stands for, on the server."""
    dataset: str                 # a key of sslcore.data.DATASETS
    root: str | None             # where its files are; None for the embedded (generated) datasets
    origin: str                  # "built in" | "teacher" | "upload"


@dataclass(frozen=True)
class Settings:
    on: bool = False
    passcode: str = ""           # "" = no teacher: nobody manages other people's runs
    registered: tuple[tuple[str, str], ...] = ()     # (name, path) from --data
    caps: Limits = CLASSROOM


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """The script's arguments (after ``--`` on the ``streamlit run`` line) and the environment → Settings.
    Raises ConfigError naming the bad option."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--classroom", action="store_true")
    parser.add_argument("--data", action="append", default=[])
    parser.add_argument("--cap", action="append", default=[])
    args, _ = parser.parse_known_args(list(argv))
    on = args.classroom or environ.get(ENV_ON, "").strip().lower() in ("1", "true", "yes", "on")
    data = [d for d in environ.get(ENV_DATA, "").split(";") if d.strip()] + args.data
    registered = []
    for item in data:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not DATASET_NAME.fullmatch(name) or not path:
            raise ConfigError(f"--data: expected NAME=PATH with a name of letters, digits, '_', '.', '-', got {item!r}")
        registered.append((name, path))
    caps = CLASSROOM
    for item in [c for c in environ.get(ENV_CAPS, "").split(",") if c.strip()] + args.cap:
        name, _, value = item.partition("=")
        caps = with_cap(caps, name.strip(), value.strip())
    return Settings(on=on, passcode=environ.get(ENV_PASSCODE, ""), registered=tuple(registered), caps=caps)


def with_cap(caps: Limits, name: str, value: str | int) -> Limits:
    if name not in CAP_FIELDS:
        raise ConfigError(f"--cap: unknown cap {name!r}; known: {', '.join(CAP_FIELDS)}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--cap {name}: must be a whole number, got {value!r}") from None
    if number < 1:
        raise ConfigError(f"--cap {name}: must be at least 1, got {number}")
    return dataclasses.replace(caps, **{name: number})


def settings() -> Settings:
    """This server's settings (read on every script run, so parsed once per distinct argv / environment)."""
    return _settings(tuple(sys.argv[1:]), tuple(os.environ.get(v, "") for v in ENV_VARS))


@functools.lru_cache(maxsize=8)
def _settings(argv: tuple[str, ...], values: tuple[str, ...]) -> Settings:
    return parse_settings(argv, dict(zip(ENV_VARS, values)))


def on() -> bool:
    return settings().on


# ---------------------------------------------------------------------------------------------------------------
# The room: what changes while the server runs (caps, people), one per runs folder and server process
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Room:
    root: Path
    caps: Limits
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    _read: tuple[int, dict[str, str]] | None = dataclasses.field(default=None, repr=False)   # (mtime, people)

    @property
    def people_file(self) -> Path:
        return self.root / "classroom" / "people.json"

    def people(self) -> dict[str, str]:
        """{display name: sha256 of its token}, kept in the runs folder so names survive a server restart; re-read
        only when the file changed (every ownership check of every rerun asks)."""
        try:
            mtime = self.people_file.stat().st_mtime_ns
            if self._read is None or self._read[0] != mtime:
                self._read = (mtime, json.loads(self.people_file.read_text(encoding="utf-8")))
            return dict(self._read[1])
        except (OSError, ValueError):
            return {}

    def add_person(self, name: str) -> str:
        """Register ``name`` and return its new token; ConfigError when someone has it already."""
        with self.lock:
            people = self.people()
            if name.casefold() in {n.casefold() for n in people}:
                raise ConfigError("display name: someone in this class already has that name; pick another "
                                  "(or open the link you got when you chose it)")
            token = secrets.token_urlsafe(18)
            people[name] = _digest(token)
            self.people_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.people_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(people, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.people_file)
        return token

    def name_of(self, token: str) -> str | None:
        digest = _digest(token)
        return next((name for name, d in self.people().items() if hmac.compare_digest(d, digest)), None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@st.cache_resource(show_spinner=False)
def _room(root: str, start_caps: Limits) -> Room:
    return Room(Path(root), start_caps)


def room() -> Room:
    return _room(str(default_runs_dir().resolve()), settings().caps)


def caps() -> Limits:
    return room().caps


def set_caps(new: Limits) -> None:
    if not is_teacher():
        raise ConfigError("caps: only the teacher (with the passcode) changes the caps")
    room().caps = new


# ---------------------------------------------------------------------------------------------------------------
# Who is this browser?
# ---------------------------------------------------------------------------------------------------------------
def me() -> str | None:
    """This browser session's display name, or None before it picked one. The token lives in the session and in
    the page address (``?me=``), so a reload or a bookmarked link keeps the name; page switches drop query
    parameters, so it is put back here on every run."""
    if not on():
        return None
    people = room()
    token, name = None, None
    # A reload or a bookmarked link brings the token in the address; a page switch leaves it in the session only.
    for candidate in (st.query_params.get(TOKEN_PARAM), st.session_state.get("classroom.token")):
        name = people.name_of(candidate) if candidate else None
        if name is not None:
            token = candidate
            break
    if name is None:
        st.session_state.pop("classroom.token", None)
        return None
    st.session_state["classroom.token"] = token
    if st.query_params.get(TOKEN_PARAM) != token:
        st.query_params[TOKEN_PARAM] = token
    return name


def claim_name(name: str) -> str:
    """Give this browser the display name ``name`` (once). Raises ConfigError naming what is wrong."""
    name = " ".join(str(name).split())
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError("display name: 1 to 32 characters, please")
    token = room().add_person(name)
    st.session_state["classroom.token"] = token
    st.query_params[TOKEN_PARAM] = token
    return name


def unlock(passcode: str) -> bool:
    """Teacher mode for this session when ``passcode`` is the one set at start-up (constant-time compare)."""
    expected = settings().passcode
    with _GUESSES:  # one guess at a time across all sessions, and a wrong one holds the line for a second
        ok = bool(expected) and hmac.compare_digest(passcode.encode("utf-8"), expected.encode("utf-8"))
        if not ok:
            time.sleep(WRONG_PASSCODE_DELAY_S)
    if ok:
        st.session_state["classroom.teacher"] = True
    return ok


def is_teacher() -> bool:
    return on() and bool(st.session_state.get("classroom.teacher"))


def can_manage(run: RunInfo) -> bool:
    """May this session cancel, resume, delete or evaluate ``run``? Always outside classroom mode; in it, the run's
    owner and the teacher. Runs started from the CLI (no owner) belong to the teacher."""
    if not on() or is_teacher():
        return True
    return run.owner is not None and run.owner == me()


# ---------------------------------------------------------------------------------------------------------------
# Caps and launching
# ---------------------------------------------------------------------------------------------------------------
def check_caps(cfg: RunConfig, limits: Limits | None = None) -> RunConfig:
    """Refuse a run over a classroom cap with a one-line message that names the field and the cap. The caps are
    ``RunConfig.validate``'s own (one table, one message, as in the CLI), said to be the classroom's."""
    if not on():
        return cfg
    limits = limits or caps()
    try:
        cfg.validate(limits)
    except ConfigError as e:
        cfg.validate()  # over what any run may ask: the plain message is the whole story
        raise ConfigError(f"{e} — this classroom's cap; the teacher can change it") from None
    if limits.train_images is not None and cfg.data.train_size is None and not DATASETS[cfg.data.dataset].embedded:
        raise ConfigError(f"train_size: set the number of training images (at most {limits.train_images:,}: "
                          "this classroom's cap)")
    return cfg


def launch(cfg: RunConfig, store: RunStore) -> str:
    """Queue a run for this session: as ``sslcore.runs.launch`` outside classroom mode; in it, with the caps
    checked, the session's name as the owner and at most ``queued_per_owner`` runs queued or running per person."""
    if not on():
        return store_launch(cfg, store)
    who = me()
    if who is None:
        raise ConfigError("display name: pick your name in the sidebar before launching a run")
    check_caps(cfg)
    return store_launch(cfg, store, owner=who, max_active_per_owner=caps().queued_per_owner)


# ---------------------------------------------------------------------------------------------------------------
# Datasets by name
# ---------------------------------------------------------------------------------------------------------------
def data_sources(runs_root: Path | None = None) -> dict[str, DataSource]:
    """The datasets a classroom browser may pick, by name: built-in generated ones, the teacher's, the uploads.
    Names are all the browser ever sends; paths stay here."""
    runs_root = runs_root or default_runs_dir().resolve()
    sources = {name: DataSource(name, None, "built in") for name, info in DATASETS.items() if info.embedded}
    for name, path in settings().registered:
        dataset = name if name in DATASETS and not DATASETS[name].embedded else "folder"
        sources[name] = DataSource(dataset, path, "teacher")
    for row in list_uploaded(runs_root):
        if row["name"] not in sources:
            sources[row["name"]] = DataSource("folder", str(resolve_uploaded(runs_root, row["name"])), "upload")
    return sources


def owner_label(run: RunInfo) -> str:
    """Who a run belongs to, in words (plain text: pass it through ``plain`` before Markdown)."""
    return run.owner or "teacher / CLI"


# ---------------------------------------------------------------------------------------------------------------
# The sidebar's classroom box
# ---------------------------------------------------------------------------------------------------------------
def sidebar() -> None:
    """Your display name (picked once) and the teacher's unlock, on every page in classroom mode."""
    from lens_ui.text import plain

    with st.sidebar:
        st.caption("**Classroom mode**")
        who = me()
        if who:
            st.markdown(f"👤 You are **{plain(who)}**")
            st.caption("Keep this page's address: it carries your name (the `me=` part), so do not share it. "
                       "Share runs with the links on the pages instead.")
        else:
            with st.form("classroom.join", border=False):
                name = st.text_input("Your name for this class", max_chars=32, key="classroom.name",
                                     help="shown beside your runs and on the Class page; picked once")
                joined = st.form_submit_button("Join the class", type="primary")
            if joined:
                try:
                    claim_name(name)
                except ConfigError as e:
                    st.error(plain(e), icon="⚠️")
                else:
                    st.rerun()
        if is_teacher():
            st.success("Teacher mode: you can cancel and delete any run and change the caps (Class page).",
                       icon="🧑‍🏫")
            if st.button("Leave teacher mode", key="classroom.lock"):
                st.session_state.pop("classroom.teacher", None)
                st.rerun()
        elif settings().passcode:
            with st.expander("Teacher"):
                with st.form("classroom.unlock", border=False):
                    code = st.text_input("Passcode", type="password", key="classroom.passcode")
                    sent = st.form_submit_button("Unlock")
                if sent:
                    if unlock(code):
                        st.rerun()
                    st.error("That is not the passcode.", icon="🔒")
