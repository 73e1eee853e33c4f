"""The README's screenshots, taken from a finished lesson instead of a test's 16-step run.

    python -m lens_ui.screenshots --runs RUNS_DIR [--out docs/screenshots] [--lesson bt_vs_simclr]
                                  [--sweep sweep_strength] [--seed 0] [--also bt_converge] [--pca]

Serves the app headless on a free local port over RUNS_DIR (``lens_ui.browser``) and saves a full-page PNG of:
Home, Augmentations, Train (the lesson picked, with its last measured claims), Monitor of the lesson's first run
(Barlow Twins: its heatmap at the last step), Embeddings of that run (coloured by class, a point hovered to show its
thumbnail), Compare of the lesson's runs, and Sweeps with the sweep's finished plot (``--also``: a Monitor of
another lesson's first run, ``monitor_<lesson>.png``). The runs are found by their
lesson records (``sslcore.lessons.load_record``); when the lesson or the sweep has not finished in RUNS_DIR, it says
which one to run first and saves nothing. It trains nothing; like the app for any visitor, it adds the UMAP of the
lesson's runs to their embedding files when they have none (``--pca``: nothing is computed or written).
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lens_ui import browser as web
from sslcore.config import ConfigError
from sslcore.lessons import Lesson, get_lesson, load_record

LESSON = "bt_vs_simclr"     # the lesson a class sees first: Barlow Twins vs SimCLR, Barlow Twins first
SWEEP = "sweep_strength"    # "how strong should my augmentation be": the sweep teachers ask for
DEFAULT_OUT = web.ROOT / "docs" / "screenshots"
# How long a page may take to draw. Generous: the tool runs beside training lessons (load average 10 on 2 cores,
# 2026-11-26), and a page that shows an error box fails at once anyway.
WAIT_S = 180
# A generous bound for numba's one-time compile and one UMAP of 1000 points: the whole tool took 91 s with the
# lesson's two UMAPs computed (2026-11-26, 2 shared CPU cores).
UMAP_WAIT_S = 600


class NotReady(Exception):
    """The runs folder does not hold what a screenshot needs; the message says what to run first."""


@dataclass(frozen=True)
class Shots:
    """What the screenshots show: the lesson, its runs (label → run id, the first one on Monitor and Embeddings),
    the first run's last logged step, and the sweep."""
    lesson: Lesson
    runs: dict[str, str]
    last_step: int
    sweep: Lesson
    seed: int
    umap: bool = True
    also: tuple[tuple[str, str, int], ...] = ()   # (lesson id, its first run, that run's last step): more Monitors

    @property
    def first(self) -> str:
        return self.runs[self.lesson.runs[0].label]


def _verify_hint(lesson_id: str, seed: int) -> str:
    return f"run `python -m sslcore lessons verify {lesson_id} --seed {seed}` first"


def finished_runs(store, lesson: Lesson, seed: int) -> dict[str, str]:
    """The lesson's runs of ``seed`` (label → run id), every one finished and evaluated; ``NotReady`` otherwise."""
    from sslcore.evaluate import latest_results
    from sslcore.runs import RunNotFound

    record = load_record(store, lesson.id, seed)
    if record is None:
        raise NotReady(f"lesson {lesson.id} (seed {seed}) was never launched in {store.root}: "
                       + _verify_hint(lesson.id, seed))
    runs = {}
    for run in lesson.runs:
        run_id = record["runs"].get(run.label)
        try:
            info = store.get(run_id, refresh=False) if run_id else None
        except RunNotFound:
            info = None
        if info is None:
            raise NotReady(f"lesson {lesson.id} (seed {seed}): run {run.label!r} is not in {store.root}: "
                           + _verify_hint(lesson.id, seed))
        if info.status != "finished":
            progress = f" ({info.step}/{info.total_steps} steps)" if info.status == "running" else ""
            raise NotReady(f"lesson {lesson.id} (seed {seed}): run {run.label!r} is {info.status}{progress}; wait "
                           f"for it to finish, or " + _verify_hint(lesson.id, seed))
        if latest_results(store, run_id) is None:
            raise NotReady(f"lesson {lesson.id} (seed {seed}): run {run.label!r} has no evaluation yet: "
                           + _verify_hint(lesson.id, seed))
        runs[run.label] = run_id
    return runs


def plan(store, lesson_id: str = LESSON, sweep_id: str = SWEEP, seed: int = 0, umap: bool = True,
         also: tuple[str, ...] = ()) -> Shots:
    """Everything the screenshots need from the store, checked before a browser starts. ``also``: lessons whose
    first run gets a Monitor screenshot of its own, ``monitor_<lesson>.png`` (e.g. ``bt_converge``)."""
    lesson, sweep = get_lesson(lesson_id), get_lesson(sweep_id)
    if lesson.sweep is not None:
        raise ConfigError(f"--lesson: {lesson_id} is a sweep; name a lesson of a few runs (e.g. {LESSON})")
    if sweep.sweep is None:
        raise ConfigError(f"--sweep: {sweep_id} is not a sweep (e.g. {SWEEP})")
    runs = finished_runs(store, lesson, seed)
    finished_runs(store, sweep, seed)
    more = []
    for other in map(get_lesson, also):
        run_id = finished_runs(store, other, seed)[other.runs[0].label]
        more.append((other.id, run_id, store.get(run_id, refresh=False).step))
    first = runs[lesson.runs[0].label]
    return Shots(lesson, runs, store.get(first, refresh=False).step, sweep, seed, umap, tuple(more))


class _Camera:
    """One browser tab over the app: opens a page, and once it has drawn, checks it for error boxes and saves it
    into a temporary folder (``saved``). ``where`` names the page being drawn, for the error when one times out."""

    def __init__(self, page, url: str, folder: Path, log: Path):
        self.page, self.url, self.folder, self.log = page, url, folder, log
        self.where, self.saved = "home", []

    def open(self, name: str, path: str) -> None:
        """Go to ``path``; once its first script run is over, fail at once on an error box instead of waiting for
        what the page would have drawn."""
        self.where = name
        self.page.goto(f"{self.url}{path}")
        web.settle(self.page, WAIT_S)
        self.check()

    def check(self) -> None:
        found = web.error_boxes(self.page)
        if found:
            box = self.page.locator("[data-testid=stAlert], [data-testid=stException]").first
            lines = box.inner_text().splitlines() if box.count() else []
            said = next((line.strip() for line in lines if len(line.strip()) > 2), "")   # past the icon
            raise NotReady(f"the {self.where} page shows {' and '.join(found)}" + (f" ({said})" if said else "")
                           + f"; nothing was saved (the app's log: {self.log})")

    def shoot(self) -> None:
        web.settle(self.page, WAIT_S)
        self.page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring
        self.check()
        self.saved.append(web.screenshot(self.page, self.folder / f"{self.where}.png"))


def _drive(cam: _Camera, shots: Shots) -> None:
    """The pages in README order, each waited for until it shows what the README's picture is about."""
    page, wait = cam.page, WAIT_S * 1000
    cam.open("home", "/")
    page.get_by_role("heading", name=re.compile("SSL Lens")).wait_for(timeout=wait)
    cam.shoot()

    cam.open("augmentations", "/augmentations")
    page.locator("[data-testid=stImage]").nth(2).wait_for(timeout=wait)
    cam.shoot()

    cam.open("train", "/train")
    web.choose(page, "train-lesson", shots.lesson.title)
    page.get_by_text("Last measured").first.wait_for(timeout=wait)
    cam.shoot()

    for name, run_id, last_step in (("monitor", shots.first, shots.last_step),
                                    *((f"monitor_{lesson_id}", run_id, step) for lesson_id, run_id, step in shots.also)):
        cam.open(name, f"/monitor?run={run_id}")
        page.locator(".js-plotly-plot .heatmaplayer, .js-plotly-plot .hm").first.wait_for(timeout=wait)
        page.get_by_text(re.compile(rf"· step {last_step}$")).first.wait_for(timeout=wait)
        cam.shoot()

    if shots.umap:   # every run's, so that Compare draws UMAP too (it shows PCA unless every panel has one)
        for run_id in reversed(list(dict.fromkeys(shots.runs.values()))):
            cam.open("embeddings", f"/embeddings?run={run_id}")
            page.locator(".st-key-emb-projection").get_by_text("UMAP").wait_for(timeout=UMAP_WAIT_S * 1000)
            web.settle(page, WAIT_S)
        page.locator(".st-key-emb-projection").get_by_text("UMAP").click()
    else:
        cam.open("embeddings", f"/embeddings?run={shots.first}")
    plot = page.locator(".st-key-emb_scatter .nsewdrag").first
    plot.wait_for(timeout=wait)
    web.settle(page, WAIT_S)
    web.hover_thumbnail(page, plot, from_bottom=True)   # best effort: the pointer stays where the thumbnail showed
    cam.shoot()

    cam.open("compare", f"/compare?runs={','.join(dict.fromkeys(shots.runs.values()))}")
    page.get_by_text("learned the shape best").first.wait_for(timeout=wait)
    cam.shoot()

    cam.open("sweeps", f"/sweeps?sweep={shots.sweep.id}")
    web.settle(page, WAIT_S)
    if shots.seed:
        field = page.locator(".st-key-sweeps-seed input").first
        field.fill(str(shots.seed))
        field.press("Enter")
    total = len(shots.sweep.runs)
    page.get_by_text(f"{total} of {total} runs evaluated").first.wait_for(timeout=wait)
    page.locator(".js-plotly-plot .scatterlayer").nth(len(shots.sweep.sweep.probes) - 1).wait_for(timeout=wait)
    cam.shoot()


def take(url: str, shots: Shots, out: Path, log: Path) -> list[Path]:
    """Every page in Chromium at 1400 px wide, saved as ``out/<page>.png``. The PNGs go to a temporary folder
    first and move into ``out`` only when every page succeeded, so a failure leaves the previous set whole."""
    from playwright.sync_api import Error as BrowserError

    folder = Path(tempfile.mkdtemp(prefix="ssl-lens-shots-"))
    try:
        with web.chromium() as b:
            cam = _Camera(b.new_page(viewport={"width": web.WIDTH, "height": web.HEIGHT}), url, folder, log)
            cam.page.set_default_timeout(WAIT_S * 1000)   # every click and wait: pages take long on busy cores
            try:
                _drive(cam, shots)
            except BrowserError as e:
                raise NotReady(f"the {cam.where} page did not draw what it should ({str(e).splitlines()[0]}); "
                               f"nothing was saved (the app's log: {log})") from None
        out.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.move(path, out / path.name)) for path in cam.saved]   # /tmp may be another disk
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lens_ui.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, type=Path, help="a runs folder holding the finished lesson and sweep")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the PNGs go (default: %(default)s)")
    parser.add_argument("--lesson", default=LESSON, help="the lesson on Train, Monitor, Embeddings and Compare")
    parser.add_argument("--sweep", default=SWEEP, help="the sweep on the Sweeps page")
    parser.add_argument("--seed", type=int, default=0, help="the seed both were launched with")
    parser.add_argument("--also", nargs="*", default=[], metavar="LESSON",
                        help="lessons whose first run gets a Monitor screenshot of its own (e.g. bt_converge)")
    parser.add_argument("--pca", action="store_true",
                        help="show PCA, not UMAP: computes nothing, so the runs folder is left exactly as it was")
    args = parser.parse_args(argv)
    from sslcore.runs import RunStore

    try:
        if not (args.runs / "runs.sqlite").is_file():
            raise ConfigError(f"--runs: {args.runs} is not a runs folder (it has no runs.sqlite)")
        lacking = web.missing()
        if lacking:
            raise NotReady("screenshots need " + " and ".join(lacking))
        shots = plan(RunStore(args.runs), args.lesson, args.sweep, args.seed, umap=not args.pca, also=tuple(args.also))
        log = Path(tempfile.gettempdir()) / "ssl-lens-screenshots.streamlit.log"
        with web.serve_app(args.runs.resolve(), log=log, SSL_LENS_UMAP="manual" if args.pca else "auto") as url:
            saved = take(url, shots, args.out, log)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (NotReady, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
