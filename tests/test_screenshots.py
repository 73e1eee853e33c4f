"""The README's screenshot tool finds its runs by lesson records, and says which lesson to run first when the runs
folder does not hold them finished — before any browser starts (the browser part is tests/test_browser.py's)."""
from __future__ import annotations

import pytest

from lens_ui import screenshots
from sslcore import lessons
from sslcore.config import ConfigError
from sslcore.runs import RunStore


def _launch(store: RunStore, lesson_id: str, seed: int = 0, *, finish: bool = True, evaluate: bool = True) -> dict:
    """The lesson's launch record with its runs in the store, not trained: created running, then (optionally)
    given a final evaluation at step 12 and finished."""
    def record(cfg, store) -> str:
        run_id = store.create_run(cfg, status="running", total_steps=12)
        store.claim_foreground(run_id, "cpu")
        return run_id

    runs = lessons.launch(lessons.get_lesson(lesson_id), store, seed=seed, launcher=record)["runs"]
    for run_id in runs.values():
        store.update(run_id, step=12)
        if evaluate:
            store.add_eval(run_id, 12, "backbone", {"features": "backbone"}, {"knn/class": 0.7})
        if finish:
            store.finish(run_id, "finished")
    return runs


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def test_plan_finds_the_lessons_runs_and_the_first_runs_last_step(store):
    runs = _launch(store, "bt_vs_simclr")
    _launch(store, "sweep_strength")
    shots = screenshots.plan(store, "bt_vs_simclr", "sweep_strength")
    assert shots.runs == runs
    assert shots.first == runs[lessons.get_lesson("bt_vs_simclr").runs[0].label]
    assert shots.last_step == 12 and shots.sweep.id == "sweep_strength"


def test_a_lesson_never_launched_names_the_command_to_run(store):
    _launch(store, "sweep_strength")
    with pytest.raises(screenshots.NotReady, match=r"bt_vs_simclr \(seed 0\) was never launched.*"
                                                   r"lessons verify bt_vs_simclr --seed 0"):
        screenshots.plan(store, "bt_vs_simclr", "sweep_strength")


def test_an_unfinished_sweep_is_not_photographed(store):
    _launch(store, "bt_vs_simclr")
    _launch(store, "sweep_strength", finish=False)
    with pytest.raises(screenshots.NotReady, match=r"sweep_strength \(seed 0\): run .* is running \(12/12 steps\)"):
        screenshots.plan(store, "bt_vs_simclr", "sweep_strength")


def test_a_finished_run_without_an_evaluation_is_not_ready(store):
    _launch(store, "bt_vs_simclr", evaluate=False)
    _launch(store, "sweep_strength")
    with pytest.raises(screenshots.NotReady, match="has no evaluation yet"):
        screenshots.plan(store, "bt_vs_simclr", "sweep_strength")


def test_the_seed_must_match(store):
    _launch(store, "bt_vs_simclr", seed=1)
    _launch(store, "sweep_strength", seed=1)
    assert screenshots.plan(store, seed=1).seed == 1
    with pytest.raises(screenshots.NotReady, match="seed 0"):
        screenshots.plan(store, seed=0)


def test_a_sweep_and_a_lesson_cannot_swap_places(store):
    with pytest.raises(ConfigError, match="--lesson: sweep_strength is a sweep"):
        screenshots.plan(store, "sweep_strength", "sweep_strength")
    with pytest.raises(ConfigError, match="--sweep: bt_vs_simclr is not a sweep"):
        screenshots.plan(store, "bt_vs_simclr", "bt_vs_simclr")


def test_the_command_fails_with_one_line_and_saves_nothing(store, tmp_path, capsys):
    out = tmp_path / "shots"
    assert screenshots.main(["--runs", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert screenshots.main(["--runs", str(store.root), "--out", str(out), "--lesson", "no_such_lesson"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "unknown lesson 'no_such_lesson'" in err and err.count("\n") == 1
    assert not out.exists()


def test_also_adds_another_lessons_first_run_when_it_has_finished(store):
    runs = _launch(store, "bt_vs_simclr")
    _launch(store, "sweep_strength")
    with pytest.raises(screenshots.NotReady, match="bt_converge"):
        screenshots.plan(store, also=("bt_converge",))
    converge = _launch(store, "bt_converge")
    shots = screenshots.plan(store, also=("bt_converge",))
    assert shots.also == (("bt_converge", next(iter(converge.values())), 12),)
    assert shots.runs == runs
