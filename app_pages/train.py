"""Train: lesson presets, a run form validated field by field, and the table of runs with cancel / resume."""
from __future__ import annotations

import statistics
import time

import streamlit as st

from lens_ui import classroom, upload
from lens_ui.common import (PAGES, STATUS_HELP, STATUS_ICONS, asset, format_duration, format_time, guard, guarded,
                            run_label, store)
from lens_ui.text import plain
from sslcore import lesson_results
from sslcore.augment import PRESET_SOURCES, PRESETS
from sslcore.backbones import BACKBONES
from sslcore.config import ConfigError, RunConfig
from sslcore.data import DATASETS
from sslcore.lessons import Lesson, launch as launch_lesson_runs, load_lessons, load_record, measure, summary
from sslcore.methods import METHODS
from sslcore.recipes import RECIPES
from sslcore.train import resolve_device

# The form's defaults are the engine's (RunConfig): the run whose quality README measures, about two minutes on a
# laptop CPU. The page's own choices: a denser logging cadence (the Monitor moves every second or two) and 4 views
# per image for relational reasoning.
_DEFAULT = RunConfig()
DEFAULTS = {
    "method": _DEFAULT.method.name, "dataset": _DEFAULT.data.dataset, "backbone": _DEFAULT.method.backbone,
    "epochs": _DEFAULT.optim.epochs, "batch_size": _DEFAULT.optim.batch_size, "lr": _DEFAULT.optim.lr,
    "augment": _DEFAULT.augment.preset, "strength": _DEFAULT.augment.strength,
    "projector_dim": _DEFAULT.method.projector_dim, "lambd": _DEFAULT.method.lambd,
    "temperature": _DEFAULT.method.temperature, "stop_gradient": _DEFAULT.method.stop_gradient,
    "ema": _DEFAULT.method.momentum, "num_views": 4, "seed": _DEFAULT.seed, "device": _DEFAULT.device,
    "image_size": _DEFAULT.data.image_size, "train_size": 4000, "optimizer": _DEFAULT.optim.optimizer,
    "weight_decay": _DEFAULT.optim.weight_decay, "warmup_epochs": _DEFAULT.optim.warmup_epochs,
    "log_every": 2, "snapshot_every": 10, "data_root": "", "download": False, "name": "", "nproc": 1,
}
# Fields shown only for the methods that use them.
METHOD_FIELDS = {"lambd": ("barlow_twins",), "temperature": ("simclr", "moco"), "stop_gradient": ("simsiam",),
                 "ema": ("byol", "moco"), "num_views": ("relational",)}
IMAGE_SIZES = [16, 24, 32, 48, 64, 96, 128, 224]
KEY = "train."


def _k(field: str) -> str:
    return KEY + field


def _devices() -> list[str]:
    import torch

    options = ["auto", "cpu"]
    if torch.cuda.is_available():
        options += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        options.append("mps")
    return options


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _dataset_changed() -> None:
    """Callback: a new dataset brings its own image size (photos 64 px, generated 32 px), as on the command line."""
    size = DATASETS[st.session_state[_k("dataset")]].default_image_size
    if size in IMAGE_SIZES:
        st.session_state[_k("image_size")] = size


def _fill_form(fields: dict) -> None:
    """Callback: put a lesson's (or the defaults') values into the form's widgets."""
    for name, value in (DEFAULTS | fields).items():
        if name in DEFAULTS:
            st.session_state[_k(name)] = value
    st.session_state[_k("overrides")] = {}
    st.session_state.pop(_k("recipe"), None)


def _fill_recipe() -> None:
    """Callback: put the picked published recipe into the form; its settings without a form field (projector
    depth, lr of biases, focal loss, …) ride along and are shown beside the form."""
    recipe = RECIPES[st.session_state[_k("recipe_pick")]]
    _fill_form({k: v for k, v in recipe.settings.items() if k in DEFAULTS})
    st.session_state[_k("overrides")] = dict(recipe.settings.get("overrides", {}))
    st.session_state[_k("recipe")] = {"name": recipe.name, "extra": {
        k: v for k, v in recipe.settings.items() if k not in DEFAULTS and k != "overrides"}}


def _launch_lesson(lesson: Lesson) -> None:
    """Callback: queue every run of a lesson (they run one after another); a run with the same configuration
    already in the store (finished, running or queued) is reused, not trained again."""
    try:
        record = launch_lesson_runs(lesson, store(), seed=int(st.session_state.get("train.lesson_seed", 0)),
                                    launcher=classroom.launch)
        ids, errors = list(dict.fromkeys(record["runs"].values())), []
    except Exception as e:  # noqa: BLE001 — reported below the button
        ids, errors = [], [str(e)]
    st.session_state["train.launched"] = {"ids": ids, "title": lesson.title, "errors": errors,
                                          "sweep": lesson.id if lesson.sweep else None}


def _last_measured(lesson: Lesson) -> None:
    """The claims of the lesson's last launch in this runs folder, checked against what its runs recorded."""
    seed = int(st.session_state.get("train.lesson_seed", 0))  # the seed box's, else the last launched seed's
    record = load_record(store(), lesson.id, seed) or load_record(store(), lesson.id)
    if record is None:
        _shipped_measurement(lesson)
        return
    claims = measure(lesson, store(), record)
    st.markdown(f"**Last measured** (seed {record['seed']}, launched {format_time(record['launched'])}): "
                f"{summary(claims)}")
    for c in claims:
        icon = "✅" if c["held"] else "❌" if c["held"] is False else "⏳"
        numbers = f"{c['left']:.3g} vs {c['right']:.3g}" if c["held"] is not None else c["pending"]
        st.caption(f"{icon} {plain(c['says'])} — {plain(numbers)}")


def _shipped_measurement(lesson: Lesson) -> None:
    """Before a lesson has run in this runs folder: how its claims fared when the lesson was measured
    (assets/lessons_measured.json, the data behind LESSONS.md's table)."""
    shipped = lesson_results.load()
    seeds = shipped["lessons"].get(lesson.id)
    if not seeds:
        st.caption("Not measured yet, here or when the lesson was written: launch it, or run "
                   f"`python -m sslcore lessons verify {lesson.id}`.")
        return
    verdicts = ", ".join(f"seed {seed}: {summary(claims)}" for seed, claims in sorted(seeds.items()))
    st.markdown(f"**Measured when the lesson was written** ({shipped.get('measured', '?')}, "
                f"{shipped.get('machine', 'machine not recorded')}) — {verdicts}. Not yet run in this runs folder.")
    for claim, per_seed in lesson_results.by_claim(shipped, lesson):
        cells = "; ".join(f"seed {seed} {lesson_results.verdict(row)}" for seed, row in sorted(per_seed.items()))
        st.caption(f"{plain(claim.says)} — {plain(cells)}")


def _config(fields: dict) -> RunConfig:
    """Form fields → validated RunConfig. Empty optional fields fall back to the config's defaults."""
    flat = {k: v for k, v in fields.items() if k not in ("data_root", "name")}
    if fields.get("data_root"):
        flat["data_root"] = fields["data_root"]
    if fields.get("name"):
        flat["name"] = fields["name"]
    cfg = RunConfig().replace(**flat).validate()
    if cfg.data.train_size and cfg.optim.batch_size > cfg.data.train_size:
        raise ConfigError(f"batch_size: {cfg.optim.batch_size} is larger than the training set "
                          f"({cfg.data.train_size} images); lower the batch size or use more images")
    resolve_device(cfg.device)  # an explicit device that is not here is a ConfigError naming `device`
    return classroom.check_caps(cfg)  # in classroom mode: refused over a cap, the message names it


def _field_of(error: ConfigError) -> str:
    """ConfigError messages start with the field name ("epochs: must be …"); map it to the form's field."""
    head = str(error).split(":", 1)[0].strip().rsplit(".", 1)[-1]
    return {"name": "method", "preset": "augment", "momentum": "ema", "root": "data_root",
            "overrides": "augment"}.get(head, head)


st.title("🏋️ Train")
st.caption("Start a run in the background. It keeps training when you switch pages or close the browser; "
           "watch it on **Monitor**.")

# ---- arriving from the Augmentations page ----
incoming = st.session_state.pop("train.from_augment", None)
if incoming:
    st.session_state[_k("augment")] = incoming["augment"]
    st.session_state[_k("strength")] = float(incoming["strength"])
    st.session_state[_k("overrides")] = incoming["overrides"]
for name, value in DEFAULTS.items():
    st.session_state.setdefault(_k(name), value)
st.session_state.setdefault(_k("overrides"), {})

# ---- lessons ----
st.subheader("Lessons")
titles = {lesson.id: lesson for lesson in load_lessons()}
lesson = titles[st.selectbox("Pick a lesson", list(titles), format_func=lambda i: titles[i].title,
                             key="train.lesson")]
lc1, lc2 = st.columns([3, 1])
with lc1:
    st.markdown(lesson.summary)
    st.markdown(f"**What to watch:** {lesson.watch}")
    with guard("Reading the lesson's last result"):
        _last_measured(lesson)
    st.caption("Runs: " + " · ".join(f"**{r.label}** (" + ", ".join(f"{k}={v}" for k, v in r.fields.items())
                                     + ")" for r in lesson.runs))
with lc2:
    n, what = len(lesson.runs), "sweep" if lesson.sweep else "lesson"
    st.number_input("Seed", min_value=0, step=1, key="train.lesson_seed", help="seed of every run of the lesson")
    st.button(f"🚀 Launch this {what} ({n} run{'s' if n > 1 else ''})", on_click=_launch_lesson, args=(lesson,),
              type="primary", width="stretch", key="train.launch_lesson")
    if lesson.sweep:
        st.page_link(PAGES["sweeps"], label="See the sweep's plot", icon="📉", query_params={"sweep": lesson.id})
    st.button("✏️ Load its first run into the form", on_click=_fill_form, args=(lesson.runs[0].fields,),
              width="stretch", key="train.load_lesson")

launched = st.session_state.get("train.launched")
if launched:
    for err in launched["errors"]:
        st.error(plain(err))
    if launched["ids"]:
        st.success(f"Launched {len(launched['ids'])} run(s) for “{plain(launched['title'])}”. They run one after "
                   "another.", icon="🚀")
        l1, l2, _ = st.columns([1, 1, 2])
        l1.page_link(PAGES["monitor"], label="Monitor the first run", icon="📈",
                     query_params={"run": launched["ids"][0]})
        if launched.get("sweep"):
            l2.page_link(PAGES["sweeps"], label="See the sweep's plot", icon="📉",
                         query_params={"sweep": launched["sweep"]})
        elif len(launched["ids"]) > 1:
            l2.page_link(PAGES["compare"], label="Compare these runs", icon="⚖️",
                         query_params={"runs": ",".join(launched["ids"])})

# ---- the form ----
st.subheader("Your own run")
slots: dict[str, st.delta_generator.DeltaGenerator] = {}


labels: dict[str, str] = {}
# Peak learning rates of the reference recipes (REFERENCE.md: Adam/AdamW ~1e-3, SGD ~0.03-0.5, LARS 0.2-4.8 scaled
# by batch/256), widened about 10x either way: outside these a run usually diverges or barely moves.
PLAUSIBLE_LR = {"adam": (1e-5, 1e-2), "adamw": (1e-5, 1e-2), "lamb": (1e-4, 5e-2), "sgd": (1e-3, 2.0),
                "lars": (1e-2, 10.0)}


def field(container, name: str, widget, *args, **kwargs):
    """Draw one form widget bound to ``train.<name>`` with an empty slot beneath it for its error message."""
    value = getattr(container, widget)(*args, key=_k(name), **kwargs)
    labels[name] = args[0]
    slots[name] = container.empty()
    return value


def in_form_words(error: ConfigError) -> str:
    """The error with its leading field name ("batch_size: …") replaced by the form's label ("Batch size: …")."""
    text = str(error)
    head, sep, rest = text.partition(":")
    label = labels.get(_field_of(error))
    return f"{label}:{rest}" if sep and label and " " not in head.strip() else text


@st.cache_data(ttl=60, show_spinner=False)
def measured_speed(root: str, method: str, dataset: str, backbone: str, image_size: int) -> tuple[float, int] | None:
    """(median pairs/s, how many runs) over the last ≤ 5 finished runs of this method, dataset, backbone and image
    size in the runs folder — each run's speed is the median of its last 20 logged steps."""
    s, speeds = store(), []
    for r in s.list_runs():
        if len(speeds) >= 5:
            break
        if r.status != "finished" or r.method != method or r.dataset != dataset:
            continue
        try:
            c = s.config(r.id)
        except Exception:  # noqa: BLE001 — a run without a readable config says nothing about speed
            continue
        if c.method.backbone != backbone or c.data.image_size != image_size:
            continue
        values = s.metrics(r.id, since_step=max(0, r.step - 20)).get("pairs_per_s", {}).get("value", [])
        if values:
            speeds.append(statistics.median(values))
    return (statistics.median(speeds), len(speeds)) if speeds else None


r1, r2 = st.columns([3, 1])
r1.selectbox("Start from a published recipe", list(RECIPES), key=_k("recipe_pick"),
             format_func=lambda name: f"{RECIPES[name].title} — {RECIPES[name].published}",
             help="the settings of a cited setup (`python -m sslcore recipes` lists them with an estimated time); "
                  "change any field afterwards")
r2.button("📋 Load the recipe", on_click=_fill_recipe, width="stretch", key=_k("load_recipe"))
picked = st.session_state.get(_k("recipe"))
if picked:
    recipe = RECIPES[picked["name"]]
    st.info(f"**{recipe.title}** (from {recipe.source}). Published: {recipe.published}. Changed here: "
            f"{recipe.changes} Also set: " + ", ".join(f"`{k}={v}`" for k, v in picked["extra"].items()), icon="📋")

values: dict = {}
c1, c2, c3 = st.columns(3)
with c1:
    values["method"] = field(st, "method", "selectbox", "Method", list(METHODS))
    st.caption(METHODS[values["method"]].description)
    if classroom.on():  # datasets by name only: the server maps a name to its files
        sources = classroom.data_sources()
        source = st.selectbox("Dataset", list(sources), key=_k("class_dataset"),
                              format_func=lambda n: n if sources[n].origin == "built in" else
                              f"{n} ({sources[n].origin})")
        values["dataset"], values["data_root"] = sources[source].dataset, sources[source].root or ""
    else:
        values["dataset"] = field(st, "dataset", "selectbox", "Dataset", list(DATASETS), on_change=_dataset_changed)
    st.caption(DATASETS[values["dataset"]].description)
    values["backbone"] = field(st, "backbone", "selectbox", "Backbone", list(BACKBONES))
    st.caption(BACKBONES[values["backbone"]].description)
with c2:
    values["epochs"] = field(st, "epochs", "number_input", "Epochs", min_value=0, step=1,
                             help="passes over the training images")
    values["batch_size"] = field(st, "batch_size", "number_input", "Batch size", min_value=0, step=16,
                                 help="image pairs per step")
    values["lr"] = field(st, "lr", "number_input", "Learning rate", min_value=0.0, step=1e-4, format="%.5f",
                         help="peak learning rate (linear warm-up, then cosine decay)")
    values["projector_dim"] = field(st, "projector_dim", "number_input", "Projector dimension", min_value=0,
                                    step=64, help="width of the projector MLP; the heatmap shows its top-left block")
    values["seed"] = field(st, "seed", "number_input", "Seed", min_value=0, step=1,
                           help="same config + same seed on the same device = the same loss curve")
with c3:
    values["augment"] = field(st, "augment", "selectbox", "Augmentation preset", list(PRESETS))
    st.caption(PRESET_SOURCES[values["augment"]])
    if values["augment"] == "shapes" and values["dataset"] != "shapes":
        st.caption(":orange[This recipe turns and recolours images freely, which suits `shapes`; for digits and "
                   "natural images start from `barlow_twins`.]")
    values["strength"] = field(st, "strength", "slider", "Augmentation strength", 0.0, 3.0, step=0.05,
                               help="multiplies every augmentation probability and magnitude")
    method = values["method"]
    if method in METHOD_FIELDS["lambd"]:
        values["lambd"] = field(st, "lambd", "number_input", "λ (redundancy weight)", step=0.001, format="%.4f",
                                help="Barlow Twins: weight of the off-diagonal term; 0 turns it off")
    if method in METHOD_FIELDS["temperature"]:
        values["temperature"] = field(st, "temperature", "number_input", "Temperature", step=0.05, format="%.3f",
                                      help="softmax temperature of the contrastive loss")
    if method in METHOD_FIELDS["ema"]:
        values["ema"] = field(st, "ema", "number_input", "EMA momentum", step=0.005, format="%.3f",
                              help="how slowly the target / key encoder follows the online one")
    if method in METHOD_FIELDS["stop_gradient"]:
        values["stop_gradient"] = field(st, "stop_gradient", "checkbox", "Stop-gradient on the target",
                                        help="turn it off to watch SimSiam collapse")
    if method in METHOD_FIELDS["num_views"]:
        values["num_views"] = field(st, "num_views", "number_input", "Views per image", step=1)
    devices = _devices()
    if st.session_state[_k("device")] not in devices:
        st.session_state[_k("device")] = "auto"
    values["device"] = field(st, "device", "selectbox", "Device", devices,
                             help="auto: CUDA, then Apple MPS, then CPU")
    gpus = _gpu_count()
    if gpus > 1 and values["device"] in ("auto", "cuda"):
        values["nproc"] = field(st, "nproc", "number_input", "GPUs per run", min_value=1, max_value=gpus, step=1,
                                help="more than 1 trains with DDP through torchrun; the batch is split over them")

with st.expander("Advanced: image size, dataset size, optimizer, logging, name"):
    a1, a2, a3 = st.columns(3)
    values["image_size"] = field(a1, "image_size", "selectbox", "Image size (px)", IMAGE_SIZES)
    values["train_size"] = field(a1, "train_size", "number_input", "Training images", min_value=0, step=500,
                                 help="generated datasets: how many images; others: a random subset of that many")
    values["optimizer"] = field(a2, "optimizer", "selectbox", "Optimizer", ["adamw", "adam", "sgd", "lars", "lamb"])
    values["weight_decay"] = field(a2, "weight_decay", "number_input", "Weight decay", step=1e-4, format="%.5f")
    values["warmup_epochs"] = field(a2, "warmup_epochs", "number_input", "Warm-up epochs", step=0.5)
    values["log_every"] = field(a3, "log_every", "number_input", "Log metrics every (steps)", min_value=0, step=1)
    values["snapshot_every"] = field(a3, "snapshot_every", "number_input", "Heatmap snapshot every (steps)",
                                     min_value=0, step=1)
    values["name"] = field(a3, "name", "text_input", "Run name (optional)")
    if not DATASETS[values["dataset"]].embedded and not classroom.on():
        values["data_root"] = field(a1, "data_root", "text_input", "Data folder",
                                    help="cifar10 / stl10: the folder holding the files; folder: your images")
        values["download"] = field(a1, "download", "checkbox", "Download cifar10 / stl10 into the data folder")

# ---- your own images: upload, pick or delete them (lens_ui/upload.py); the browser sends names, never paths ----
if classroom.on():
    upload.upload_box(_k("upload"))
elif values["dataset"] == "folder":
    values["data_root"] = upload.folder_picker(_k("upload")) or values.get("data_root", "")
    upload.batch_notice(values["data_root"], values["batch_size"], values.get("train_size"))

overrides = st.session_state[_k("overrides")]
if overrides:
    o1, o2 = st.columns([4, 1])
    o1.info("Augmentation changes from the Augmentations page: "
            + ", ".join(f"`{k}={v:g}`" for k, v in overrides.items()), icon="🎨")
    o2.button("Clear them", on_click=lambda: st.session_state.update({_k("overrides"): {}}), key="train.clear_ov")
    values["overrides"] = dict(overrides)
if picked:
    values |= picked["extra"] | {"recipe": picked["name"]}

# ---- validation, next to the field it concerns ----
error: ConfigError | None = None
cfg: RunConfig | None = None
try:
    cfg = _config(values)
except ConfigError as e:
    error = e
    slot = slots.get(_field_of(e))
    (slot or st).error(in_form_words(e), icon="⚠️")

if cfg is not None:
    steps = (cfg.data.train_size or 0) // max(cfg.optim.batch_size, 1) * cfg.optim.epochs
    low, high = PLAUSIBLE_LR.get(cfg.optim.optimizer, (0, float("inf")))
    if not low <= cfg.optim.lr <= high:
        slots["lr"].warning(f"Learning rate {cfg.optim.lr:g} is {'far above' if cfg.optim.lr > high else 'far below'} "
                            f"what {cfg.optim.optimizer} usually trains with ({low:g} … {high:g}): expect the loss "
                            f"to {'diverge' if cfg.optim.lr > high else 'barely move'}. You can still launch it.",
                            icon="🤔")
    if cfg.data.train_size:
        pairs = cfg.data.train_size * cfg.optim.epochs
        speed = measured_speed(str(store().root), cfg.method.name, cfg.data.dataset, cfg.method.backbone,
                               cfg.data.image_size)
        estimate = (f" Training takes about **{format_duration(pairs / speed[0])}** at {speed[0]:.0f} pairs/s, the "
                    f"speed of your last {speed[1]} finished {cfg.method.name} run(s) like it "
                    f"({cfg.method.backbone}, {cfg.data.image_size} px) in this runs folder; the evaluation at the "
                    "end adds a little." if speed else
                    " No finished run like it here yet to time it by: the Monitor shows its speed (pairs/s) live.")
        st.caption(f"{cfg.data.train_size} images × {cfg.optim.epochs} epochs at batch {cfg.optim.batch_size} = "
                   f"**{steps} steps** ({pairs:,} pairs)." + estimate)
b1, b2, _ = st.columns([1, 1, 3])
go = b1.button("🚀 Launch", type="primary", disabled=cfg is None, width="stretch", key="train.launch",
               help="fix the field marked in red first" if cfg is None else "start training in the background")
b2.button("↩️ Reset the form", on_click=_fill_form, args=({},), width="stretch", key="train.reset")
if go and cfg is not None:
    with guard("Launching the run"):
        run_id = classroom.launch(cfg, store())
        st.session_state["train.launched"] = {"ids": [run_id], "errors": [],
                                              "title": cfg.name or f"{cfg.method.name} on {cfg.data.dataset}"}
        st.rerun()


# ---- runs table ----
# Its period: every 2 s while a run trains, every 5 s while runs only wait in the queue, not at all otherwise.
TABLE_PERIODS = {"running": 2.0, "queued": 5.0}


def _table_pace(runs) -> str | None:
    statuses = {r.status for r in runs}
    return next((pace for pace in TABLE_PERIODS if pace in statuses), None)


@guarded("The runs table")
def runs_table() -> None:
    s = store()
    runs = s.list_runs()  # a plain read: the store's repair runs in the server's upkeep thread
    if _table_pace(runs) != st.session_state.get("train.table_pace"):
        st.rerun(scope="app")  # a fragment's period is fixed when the page draws it: redraw once at the new pace
    if not runs:
        st.info("No runs yet: launch a lesson or your own run above.", icon="👆")
        return
    show_all = st.toggle("Show all runs", value=False, key="train.show_all") if len(runs) > 15 else True
    widths = [0.9, 3.0, 2.0, 1.0, 1.9]
    header = st.columns(widths)
    for col, text in zip(header, ["status", "run", "progress", "started", ""]):
        col.caption(f"**{text}**")
    for r in runs if show_all else runs[:15]:
        c = st.columns(widths, vertical_alignment="center")
        c[0].markdown(f"{STATUS_ICONS.get(r.status, '')} {r.status}", help=STATUS_HELP.get(r.status))
        who = f" · 👤 {plain(classroom.owner_label(r))}" if classroom.on() else ""
        c[1].markdown(f"**{plain(r.name)}**  \n`{r.id}` · {r.method} · {plain(r.dataset)}{who}" if r.name != r.id else
                      f"`{r.id}` · {r.method} · {plain(r.dataset)}{who}")
        if r.error:
            c[1].caption(f"⚠️ {plain(r.error)}")
        c[2].progress(r.progress, text=f"{r.step}/{r.total_steps or '?'} steps")
        elapsed = (r.ended or (time.time() if r.active else None)) if r.started else None
        c[3].caption(f"{format_time(r.started)}  \n{format_duration(elapsed - r.started) if elapsed else '—'}")
        with c[4], st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.page_link(PAGES["monitor"], label="Monitor", icon="📈", query_params={"run": r.id})
            if not classroom.can_manage(r):
                continue  # classroom mode: only its owner and the teacher get the buttons
            if r.active:
                if st.button("Cancel", key=f"cancel.{r.id}", help="stop it; it can be resumed later"):
                    s.cancel(r.id)
                    st.rerun(scope="fragment")
            elif r.status in ("failed", "cancelled", "diverged"):
                if st.button("Resume", key=f"resume.{r.id}", help="continue from the last checkpoint"):
                    s.resume(r.id)
                    st.rerun(scope="app")
            if not r.active:
                with st.popover("Delete", help="remove the run, its checkpoints and its results"):
                    if st.button("Delete it for good", key=f"delete.{r.id}", type="primary"):
                        s.delete(r.id)
                        st.rerun(scope="app")


st.subheader("Runs")
st.caption("Statuses: " + " · ".join(f"{STATUS_ICONS[s]} {s}" for s in STATUS_ICONS)
           + ". Runs start one at a time per device; the others wait as *queued*.")
with guard("Reading the runs"):
    st.session_state["train.table_pace"] = _table_pace(store().list_runs())
st.fragment(runs_table, run_every=TABLE_PERIODS.get(st.session_state.get("train.table_pace")))()

with st.expander("What the settings mean"):
    st.markdown(asset("train.md"))
