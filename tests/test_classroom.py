"""Classroom mode (lens_ui/classroom.py) through the real app (AppTest) and the real store: no server path from the
browser, caps that name themselves, owners, the teacher passcode, a fair queue, and user strings shown as text."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lens_ui.classroom import parse_settings
from lens_ui.text import WORD_JOINER, plain
from sslcore import runs as runs_module
from sslcore.config import RunConfig
from sslcore.errors import ConfigError
from sslcore.limits import CLASSROOM
from sslcore.runs import RunStore
from sslcore.worker import execute_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120
PASSCODE = "open sesame"
IMAGE_PAYLOAD = "![p](http://127.0.0.1:8600/pixel.png) **HACKED**"
HTML_PAYLOAD = "<img src=x onerror=alert(1)>"
LINK_PAYLOAD = "x` [Log in again](http://evil.example/login) `"


def tiny(**kw) -> RunConfig:
    base = dict(train_size=64, test_size=100, image_size=16, batch_size=16, projector_dim=32, epochs=1,
                log_every=1, snapshot_every=2, device="cpu", lr=1e-3)
    return RunConfig().replace(**(base | kw))


def image_folder(root: Path) -> Path:
    """A tiny ImageFolder tree: two classes of eight 8×8 PNGs."""
    from PIL import Image

    for c, colour in (("cats", (200, 40, 40)), ("dogs", (40, 40, 200))):
        (root / c).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (8, 8), tuple(v + i for v in colour)).save(root / c / f"{i}.png")
    return root


# ---------------------------------------------------------------------------------------------------------------
# Fixtures: a runs folder whose only device slot is held, so launched runs stay queued (no trainer on 2 cores)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def room(tmp_path, monkeypatch) -> RunStore:
    """Classroom mode on a fresh runs folder with a teacher passcode and one registered data folder."""
    monkeypatch.setenv("SSL_LENS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SSL_LENS_UMAP", "manual")
    monkeypatch.setenv("SSL_LENS_CLASSROOM", "1")
    monkeypatch.setenv("SSL_LENS_TEACHER_PASSCODE", PASSCODE)
    image_folder(tmp_path / "photos")
    monkeypatch.setenv("SSL_LENS_CLASS_DATA", f"photos={tmp_path / 'photos'}")
    store = RunStore(tmp_path / "runs")
    holder = store.create_run(tiny(name="the teacher's run"), status="running")
    store.claim_foreground(holder, "cpu")  # alive (this process): the single CPU slot stays busy
    return store


def session(page: str = "train", *, name: str | None = None, query: dict | None = None) -> AppTest:
    """A new browser session on ``page``; with ``name`` it joins the class first."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if name is not None:
        at.text_input(key="classroom.name").set_value(name)
        submit(at, "Join the class")
        assert not at.exception, [e.value for e in at.exception]
    if page != "home":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    return at


def texts(at: AppTest) -> str:
    """The page's text as a reader sees it (Markdown escapes removed)."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", "\n".join(parts)).replace(WORD_JOINER, "")


def launch(at: AppTest) -> AppTest:
    at.button(key="train.launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def buttons(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


# ---------------------------------------------------------------------------------------------------------------
# Settings and the text helper
# ---------------------------------------------------------------------------------------------------------------
def test_settings_from_arguments_and_environment():
    s = parse_settings(["--classroom", "--data", "flowers=/srv/flowers", "--cap", "epochs=5"],
                       {"SSL_LENS_TEACHER_PASSCODE": "x", "SSL_LENS_CAPS": "batch_size=64"})
    assert s.on and s.passcode == "x" and s.registered == (("flowers", "/srv/flowers"),)
    assert s.caps.epochs == 5 and s.caps.batch_size == 64 and s.caps.image_size == CLASSROOM.image_size
    assert not parse_settings([], {}).on
    assert parse_settings([], {"SSL_LENS_CLASSROOM": "1"}).on
    with pytest.raises(ConfigError, match="--data"):
        parse_settings(["--data", "../x"], {})
    with pytest.raises(ConfigError, match="unknown cap 'gpus'"):
        parse_settings(["--cap", "gpus=9"], {})
    with pytest.raises(ConfigError, match="whole number"):
        parse_settings(["--cap", "epochs=many"], {})


def unescaped(markdown: str) -> str:
    """What Markdown would still act on: the source with every backslash-escaped character removed."""
    return re.sub(r"\\[!-/:-@\[-`{-~]", "", markdown)


@pytest.mark.parametrize("payload", [IMAGE_PAYLOAD, HTML_PAYLOAD, LINK_PAYLOAD,
                                     ":red[x] $x$ www.a.com WWW.B.ORG me@host.org\n# h"])
def test_plain_leaves_nothing_for_markdown_to_act_on(payload):
    out = plain(payload)
    assert "\n" not in out
    assert not re.search(r"[!-/:-@\[-`{-~]", unescaped(out))  # every punctuation character is escaped
    assert re.sub(r"\\(.)", r"\1", out).replace(WORD_JOINER, "") == " ".join(payload.split())  # reads as typed
    assert not re.search(r"https?://|www\.|\w@\w", re.sub(r"\\(.)", r"\1", out))  # no autolink literal left


# ---------------------------------------------------------------------------------------------------------------
# No server path from the browser
# ---------------------------------------------------------------------------------------------------------------
def test_no_path_can_be_typed_in_classroom_mode(room, monkeypatch):
    at = session(name="ana")
    labels = [w.label for w in at.text_input] + [w.label for w in at.checkbox]
    assert "Data folder" not in labels
    assert not any("Download" in label for label in labels)
    datasets = at.selectbox(key="train.class_dataset")
    assert set(datasets.options) >= {"shapes", "digits", "photos (teacher)"}
    assert not any(str(room.root.parent) in o for o in datasets.options)  # names only, never paths
    assert str(room.root) not in texts(at)                                # the sidebar hides the runs folder
    views = session("augmentations", name="ben")
    assert set(views.selectbox(key="aug.class_dataset").options) == {"shapes", "digits", "photos"}
    views.selectbox(key="aug.class_dataset").set_value("photos").run()   # the teacher's folder, by name
    assert not views.exception and not views.error, [e.value for e in views.error]
    # Outside classroom mode the folder input is still there, as on a laptop.
    monkeypatch.delenv("SSL_LENS_CLASSROOM")
    local = session()
    local.selectbox(key="train.dataset").set_value("folder").run()
    assert "Data folder" in [w.label for w in local.text_input]


def test_registered_and_uploaded_datasets_map_to_their_folders_on_the_server(room, tmp_path):
    upload = image_folder(room.root / "datasets" / "pets")
    (room.root / "datasets" / "sneaky").symlink_to("/usr/share")   # a link is never an uploaded dataset
    at = session(name="ana")
    options = at.selectbox(key="train.class_dataset").options
    assert "pets (upload)" in options and not any("sneaky" in o for o in options)
    for name in ("photos", "pets"):
        at.selectbox(key="train.class_dataset").set_value(name).run()
        at.number_input(key="train.train_size").set_value(16).run()
        at.number_input(key="train.batch_size").set_value(8).run()
        launch(at)
        assert not at.error, [e.value for e in at.error]
    roots = {room.config(r.id).data.root for r in room.list_runs() if r.owner == "ana"}
    assert roots == {str(tmp_path / "photos"), str(upload.resolve())}


# ---------------------------------------------------------------------------------------------------------------
# Caps
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("widget, value, field, cap", [
    ("number_input:train.epochs", 21, "epochs", "20"),              # the form names a field by its label
    ("number_input:train.batch_size", 1024, "batch size", "512"),
    ("selectbox:train.image_size", 96, r"image size \(px\)", "64"),
    ("number_input:train.projector_dim", 8192, "projector dimension", "4,096"),
    ("number_input:train.train_size", 20_000, "training images", "10,000"),
])
def test_each_cap_refuses_with_a_message_naming_it(room, widget, value, field, cap):
    at = session(name="ana")
    kind, key = widget.split(":")
    getattr(at, kind)(key=key).set_value(value).run()
    shown = texts(at)
    assert re.search(rf"{field}: must be a positive whole number of at most {cap}, got", shown, re.I), shown
    assert "this classroom's cap; the teacher can change it" in shown
    assert at.button(key="train.launch").disabled


def test_queued_runs_per_person_are_capped(room):
    at = session(name="ana")
    for _ in range(CLASSROOM.queued_per_owner):
        launch(at)
    launch(at)
    assert "queued_per_owner: you already have 2" in texts(at)
    assert sum(r.owner == "ana" for r in room.list_runs()) == CLASSROOM.queued_per_owner


def test_a_session_without_a_name_cannot_launch(room):
    at = session()
    launch(at)
    assert "pick your name" in texts(at)
    assert len(room.list_runs()) == 1  # the holder only


# ---------------------------------------------------------------------------------------------------------------
# Owners and the teacher
# ---------------------------------------------------------------------------------------------------------------
def test_only_the_owner_and_the_teacher_can_cancel(room):
    ana = launch(session(name="ana"))
    run = next(r for r in room.list_runs() if r.owner == "ana")
    assert f"cancel.{run.id}" in buttons(ana.run())

    ben = launch(session(name="ben"))
    assert f"cancel.{run.id}" not in buttons(ben)                  # ana's run: no button for ben
    assert any(k.startswith("cancel.") for k in buttons(ben))      # ben's own run has one
    assert "ana" in texts(ben)                                     # runs show their owner

    stranger = session()
    assert not any(k.startswith(("cancel.", "resume.", "delete.")) for k in buttons(stranger))

    wrong = session()
    wrong.text_input(key="classroom.passcode").set_value("guess")
    submit(wrong, "Unlock")
    assert "not the passcode" in texts(wrong) and f"cancel.{run.id}" not in buttons(wrong)

    teacher = session()
    teacher.text_input(key="classroom.passcode").set_value(PASSCODE)
    submit(teacher, "Unlock")
    assert f"cancel.{run.id}" in buttons(teacher)
    teacher.button(key=f"cancel.{run.id}").click().run()
    assert room.get(run.id).status == "cancelled"


def test_a_name_is_taken_once_and_the_address_keeps_it(room):
    ana = session(name="ana")
    token = ana.query_params["me"]
    again = session()
    again.text_input(key="classroom.name").set_value("ANA")
    submit(again, "Join the class")
    assert "already has that name" in texts(again)
    reload = session(query={"me": token})            # the same person reloading the page keeps the name
    assert "You are **ana**" in texts(reload)
    forged = session(query={"me": "not-a-token"})
    assert "You are" not in texts(forged)


# ---------------------------------------------------------------------------------------------------------------
# A fair queue
# ---------------------------------------------------------------------------------------------------------------
def test_the_queue_alternates_owners(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    started: list[str] = []

    def start(runs_dir, run_id):  # record the order the scheduler picks; this process stands in for the trainer
        started.append(run_id)
        return os.getpid()

    monkeypatch.setattr(runs_module, "spawn_worker", start)
    holder = store.create_run(tiny(), status="running")
    store.claim_foreground(holder, "cpu")
    owner_of = {}
    for owner in ["ana"] * 4 + ["ben"] * 2 + ["cleo"]:   # ana queues all hers first
        owner_of[store.create_run(tiny(), owner=owner)] = owner
    store.finish(holder, "finished")
    while True:
        store.schedule()
        running = [r for r in store.list_runs(refresh=False) if r.status == "running"]
        if not running:
            break
        store.finish(running[0].id, "finished")
    assert [owner_of[i] for i in started] == ["ana", "ben", "cleo", "ana", "ben", "ana", "ana"]


def test_an_old_store_gains_the_owner_column(tmp_path):
    import sqlite3

    db = tmp_path / "runs" / "runs.sqlite"
    db.parent.mkdir()
    old = runs_module.SCHEMA
    with sqlite3.connect(db) as conn:
        conn.executescript(old)
        conn.execute("INSERT INTO runs (id, name, method, dataset, status, requested_device, created) VALUES "
                     "('20260101-000000-simclr-abcdef', 'old', 'simclr', 'shapes', 'finished', 'cpu', 0)")
    columns = [r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(runs)")]
    assert "owner" not in columns
    store = RunStore(tmp_path / "runs")
    assert store.list_runs()[0].owner is None


# ---------------------------------------------------------------------------------------------------------------
# User strings render as text, in every mode
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """Two finished, evaluated runs named with a Markdown image and an HTML image."""
    root = tmp_path_factory.mktemp("hostile")
    store = RunStore(root)
    for name in (IMAGE_PAYLOAD, HTML_PAYLOAD):
        run_id = store.create_run(tiny(name=name), status="running")
        store.claim_foreground(run_id, "cpu")
        assert execute_run(store, run_id).status == "finished"
    return root


def assert_inert(at: AppTest) -> None:
    """Every element that shows a payload shows it escaped: no image, link, emphasis or HTML left to render."""
    shown = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success")
             for e in getattr(at, kind) if "HACKED" in str(e.value) or "onerror" in str(e.value)
             or "evil" in str(e.value)]
    for md in shown:
        active = unescaped(md)
        for token in ("![", "](", "**HACKED", "<img", "http:", "[Log in"):
            assert token not in active, md


@pytest.mark.parametrize("classroom", [False, True])
@pytest.mark.parametrize("page", ["home", "train", "monitor", "embeddings", "compare", "sweeps", "leaderboard"])
def test_hostile_run_names_and_links_render_as_text(hostile, monkeypatch, classroom, page):
    if page == "leaderboard" and not classroom:
        pytest.skip("the Class page exists in classroom mode only")
    monkeypatch.setenv("SSL_LENS_RUNS", str(hostile))
    monkeypatch.setenv("SSL_LENS_UMAP", "manual")
    if classroom:
        monkeypatch.setenv("SSL_LENS_CLASSROOM", "1")
    ids = [r.id for r in RunStore(hostile).list_runs()]
    query = {"monitor": {"run": LINK_PAYLOAD}, "embeddings": {"run": LINK_PAYLOAD},
             "compare": {"runs": ",".join(ids + [LINK_PAYLOAD])}}.get(page)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    everything = texts(at)
    if page in ("home", "train", "compare"):
        assert "HACKED" in everything            # the names are shown …
    if page in ("monitor", "embeddings", "compare"):
        assert "Log in again" in everything      # … and so is the unknown id from the link …
    assert_inert(at)                             # … as text


# ---------------------------------------------------------------------------------------------------------------
# The teacher's caps, deleting, and a burst of launches
# ---------------------------------------------------------------------------------------------------------------
def test_the_teacher_changes_the_caps_and_a_student_cannot(room):
    student = session("leaderboard", name="ana")
    assert not [w for w in student.number_input if w.key and w.key.startswith("class.cap.")]
    teacher = session("leaderboard")
    teacher.text_input(key="classroom.passcode").set_value(PASSCODE)
    submit(teacher, "Unlock")
    teacher.number_input(key="class.cap.epochs").set_value(30)
    submit(teacher, "Change the caps")
    assert "epochs: **30**" in texts(teacher)
    form = session(name="ben")
    form.number_input(key="train.epochs").set_value(25).run()
    assert not form.error and not form.button(key="train.launch").disabled
    form.number_input(key="train.epochs").set_value(31).run()
    assert re.search("epochs: must be a positive whole number of at most 30", texts(form), re.I)


def test_owners_delete_their_own_ended_runs_only(room):
    ana = session(name="ana")
    launch(ana)
    mine = next(r for r in room.list_runs() if r.owner == "ana")
    other = room.create_run(tiny(name="ben's"), owner="ben")
    for run_id in (mine.id, other):
        room.cancel(run_id)
    ana.run()
    assert f"delete.{mine.id}" in buttons(ana) and f"delete.{other}" not in buttons(ana)
    ana.button(key=f"delete.{mine.id}").click().run()
    assert not ana.exception
    assert mine.id not in {r.id for r in room.list_runs()} and not (room.root / mine.id).exists()
    assert other in {r.id for r in room.list_runs()}


def test_a_running_run_cannot_be_deleted(room):
    holder = room.list_runs()[0]
    with pytest.raises(ConfigError, match="cancel it before deleting"):
        room.delete(holder.id)
    assert (room.root / holder.id).is_dir()


def test_a_burst_of_launches_from_several_people_keeps_every_cap(room):
    """20 launches at once from 4 people, each from its own thread and connection (as the app server's sessions
    are): each person gets exactly their 2 runs, the rest are refused with the cap's message, nothing else is left."""
    import queue
    import threading

    owners = ["ana", "ben", "cleo", "dev"] * 5
    barrier, out = threading.Barrier(len(owners)), queue.Queue()

    def launch_as(owner: str) -> None:
        store = RunStore(room.root)
        barrier.wait()
        try:
            out.put(("ok", owner, runs_module.launch(tiny(), store, owner=owner, max_active_per_owner=2)))
        except ConfigError as e:
            out.put(("refused", owner, str(e)))

    threads = [threading.Thread(target=launch_as, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    results = [out.get_nowait() for _ in threads]
    accepted = [r for r in results if r[0] == "ok"]
    refused = [r for r in results if r[0] == "refused"]
    assert sorted(o for _, o, _ in accepted) == sorted(["ana", "ben", "cleo", "dev"] * 2)
    assert len(refused) == 12 and all("queued_per_owner" in message for _, _, message in refused)
    stored = {r.id for r in room.list_runs()}
    assert {i for _, _, i in accepted} <= stored and len(stored) == 1 + len(accepted)
    folders = {p.name for p in room.root.iterdir() if (p / "config.json").exists()}
    assert folders == stored   # refused launches leave no folder behind


def test_the_class_page_ranks_everyones_finished_runs(hostile, monkeypatch):
    store = RunStore(hostile)
    runs = store.list_runs()
    for run, owner in zip(runs, ("ana", "ben")):
        store.update(run.id, owner=owner)
    monkeypatch.setenv("SSL_LENS_RUNS", str(hostile))
    monkeypatch.setenv("SSL_LENS_UMAP", "manual")
    monkeypatch.setenv("SSL_LENS_CLASSROOM", "1")
    at = session("leaderboard")
    board = at.dataframe[0].value
    assert set(board["person"]) == {"ana", "ben"}
    assert at.selectbox(key="class.rank").value == "kNN class"
    knn = list(board["kNN class"])
    assert knn == sorted(knn, reverse=True) and all(v == v for v in knn)   # evaluated, best first
    assert set(board["monitor"]) == {f"monitor?run={r.id}" for r in runs}
    at.multiselect(key="class.people").set_value(["ben"]).run()
    assert list(at.dataframe[0].value["person"]) == ["ben"]


def test_owners_survive_a_deleted_runs_sqlite(room):
    """runs.sqlite deleted while the app serves the class: the store rebuilds it from the run folders (their
    journals keep each run's owner), the page says so, and the owner still manages their run, nobody else."""
    ana = launch(session(name="ana"))
    ben = session(name="ben")
    run = next(r for r in room.list_runs() if r.owner == "ana")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{room.db_path}{suffix}").unlink(missing_ok=True)
    ana.run()
    assert not ana.exception, [e.value for e in ana.exception]
    assert any("rebuilt" in str(t.value).replace("\\", "") for t in ana.toast), [t.value for t in ana.toast]
    restored = RunStore(room.root).get(run.id)
    assert restored.owner == "ana"
    manage = {f"{verb}.{run.id}" for verb in ("cancel", "resume", "delete")}
    assert manage & buttons(ana)
    assert not manage & buttons(ben.run())


def test_the_cli_lists_owners(tmp_path):
    import subprocess
    import sys

    store = RunStore(tmp_path / "runs")
    store.create_run(tiny(), owner="ana", status="cancelled")   # ended: the CLI's look starts no trainer
    store.create_run(tiny(), status="cancelled")
    out = subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(tmp_path / "runs"), "runs"],
                         capture_output=True, text=True, cwd=Path(APP).parent, timeout=300)
    assert out.returncode == 0, out.stderr
    header, *rows = [line for line in out.stdout.splitlines() if line.strip()]
    assert "owner" in header.split()
    assert sorted(row.split()[4] for row in rows) == ["-", "ana"]
