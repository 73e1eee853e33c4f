"""Lessons: claims are data that a run holds or not; `verify` trains through the run store and says which held."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from sslcore import lesson_results, lessons
from sslcore.config import ConfigError, RunConfig
from sslcore.runs import RunStore

# Tiny runs (64 generated 16 px images, batch 16, 1 epoch = 4 steps): the machinery, not the learning, is tested.
TINY = {"train_size": 64, "test_size": 64, "image_size": 16, "batch_size": 16, "projector_dim": 32, "epochs": 1,
        "device": "cpu"}


def write_lessons(tmp_path, *lesson_dicts) -> str:
    path = tmp_path / "lessons.json"
    path.write_text(json.dumps({"lessons": list(lesson_dicts)}))
    return str(path)


def op(run, metric):
    return {"run": run, "metric": metric}


def test_every_shipped_lesson_loads_and_states_checkable_claims():
    shipped = lessons.load_lessons()
    assert {"bt_vs_simclr", "lambda_zero", "simsiam_stopgrad", "augmentation_strength", "baselines",
            "relational_k"} <= {lesson.id for lesson in shipped}
    for lesson in shipped:
        assert lesson.claims, f"{lesson.id} makes no checkable claim"
        for run in lesson.runs:   # every run of every lesson is a valid configuration
            lessons.run_config(lesson, run, seed=1)


@pytest.mark.parametrize("claim, message", [
    ({"left": op("nope", "eval knn/class"), "op": ">", "right": 0.5}, "not one of this lesson's runs"),
    ({"left": op("a", "eval knn/class"), "op": "≫", "right": 0.5}, "op"),
    ({"left": op("a", "accuracy"), "op": ">", "right": 0.5}, "must be '<source> <name>'"),
    ({"left": op("a", "vibes knn/class"), "op": ">", "right": 0.5}, "must be '<source> <name>'"),
])
def test_a_claim_that_cannot_be_checked_is_refused_when_lessons_load(tmp_path, claim, message):
    path = write_lessons(tmp_path, {"id": "x", "runs": [{"label": "a", "fields": {}}], "claims": [claim]})
    with pytest.raises(ConfigError, match=message):
        lessons.load_lessons(path)


def test_bad_lesson_files_fail_with_one_line(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        lessons.load_lessons(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        lessons.load_lessons(tmp_path / "broken.json")
    path = write_lessons(tmp_path, {"id": "x", "runs": [{"label": "a", "fields": {"colour": 1}}]})
    with pytest.raises(ConfigError, match="colour is not a run option"):
        lessons.load_lessons(path)
    with pytest.raises(ConfigError, match="unknown lesson 'nope'"):
        lessons.get_lesson("nope")


def test_record_paths_accept_only_lesson_ids(tmp_path):
    store = RunStore(tmp_path / "runs")
    with pytest.raises(ConfigError):
        lessons.record_path(store, "../../etc/passwd", 0)


def _recorded_run(store, fields, *, status="finished", knn=0.7, loss=(1.0, 0.5, 0.3), diag=0.9, off=0.05):
    """A run whose numbers were written through the store's own API, as the trainer and evaluation write them."""
    run_id = store.create_run(RunConfig().replace(**fields))
    for step, value in enumerate(loss, start=1):
        store.log_metrics(run_id, step, step / len(loss), {"loss": value})
    store.update(run_id, total_steps=len(loss))
    block = np.eye(4, dtype=np.float32)
    store.add_snapshot(run_id, 1, "matrix", block * 0.1, 0.1, 0.5)
    store.add_snapshot(run_id, len(loss), "matrix", block, diag, off)
    protocol = {"features": "backbone", "chance": {"class": 0.2}}
    store.add_eval(run_id, len(loss), "backbone", protocol, {"knn/class": knn})
    store.add_eval(run_id, len(loss), "baseline/raw_pixels", protocol, {"knn/class": 0.4})
    if status != "queued":
        store.finish(run_id, status)
    return run_id


def test_measure_checks_each_claim_with_its_numbers(tmp_path):
    store = RunStore(tmp_path / "runs")
    path = write_lessons(tmp_path, {
        "id": "demo", "runs": [{"label": "a", "fields": {}}, {"label": "b", "fields": {"lr": 0.001}}],
        "claims": [
            {"says": "a beats raw pixels by 25 points", "left": op("a", "eval knn/class"), "op": ">=",
             "right": op("a", "raw_pixels knn/class"), "plus": 0.25},
            {"says": "the identity", "left": op("a", "matrix diag"), "op": ">=", "right": 0.8},
            {"says": "final loss is the last 10 % of steps", "left": op("a", "final loss"), "op": "<", "right": 0.31},
            {"says": "a and b within 5 points", "left": op("a", "eval knn/class"), "op": "within",
             "right": op("b", "eval knn/class"), "plus": 0.05},
            {"says": "b is above chance + 0.5", "left": op("b", "eval knn/class"), "op": ">",
             "right": op("b", "chance class"), "plus": 0.5}]})
    lesson = lessons.load_lessons(path)[0]
    record = {"lesson": "demo", "seed": 0, "runs": {"a": _recorded_run(store, {}, knn=0.7, diag=0.85),
                                                   "b": _recorded_run(store, {"lr": 0.001}, knn=0.6)}}
    claims = lessons.measure(lesson, store, record)
    assert [c["held"] for c in claims] == [True, True, True, False, False]
    assert claims[0]["left"] == pytest.approx(0.7) and claims[0]["right"] == pytest.approx(0.4)
    assert claims[1]["left"] == pytest.approx(0.85)      # the last snapshot, not the first
    assert claims[2]["left"] == pytest.approx(0.3)       # 3 steps: the tail is the last logged value
    assert claims[4]["right"] == pytest.approx(0.2)
    assert lessons.summary(claims) == "3/5 claims held"
    text = lessons.format_report(lesson, record | {"claims": claims})
    assert "NOT HELD" in text and "0.7 vs 0.4" in text


def test_a_claim_on_a_run_that_has_not_finished_is_pending_not_false(tmp_path):
    store = RunStore(tmp_path / "runs")
    path = write_lessons(tmp_path, {"id": "demo", "runs": [{"label": "a", "fields": {}}],
                                    "claims": [{"left": op("a", "eval knn/class"), "op": ">", "right": 0.5}]})
    lesson = lessons.load_lessons(path)[0]
    for status, why in (("queued", "a: queued"), ("failed", "a: failed")):
        record = {"lesson": "demo", "seed": 0, "runs": {"a": _recorded_run(store, {}, status=status)}}
        (claim,) = lessons.measure(lesson, store, record)
        assert claim["held"] is None and claim["pending"].startswith(why)
    assert "1 waiting for runs" in lessons.summary([claim])


def test_verify_trains_through_the_store_checks_the_claims_and_reuses_the_run(tmp_path):
    """The one cheap claim CI runs end to end: a real background run, its evaluation, the verdicts, the record."""
    store = RunStore(tmp_path / "runs")
    path = write_lessons(tmp_path, {
        "id": "tiny", "title": "Tiny", "runs": [{"label": "bt", "fields": TINY}],
        "claims": [{"says": "the matrix has a diagonal", "left": op("bt", "matrix diag"), "op": ">", "right": -1},
                   {"says": "kNN is a fraction", "left": op("bt", "eval knn/class"), "op": "<=", "right": 1},
                   {"says": "never true", "left": op("bt", "final loss"), "op": "<", "right": -1e9}]})
    lesson = lessons.load_lessons(path)[0]
    seen = []
    record = lessons.verify(lesson, store, seed=0, progress=lambda f, m: seen.append(f))
    run = store.get(record["runs"]["bt"])
    assert run.status == "finished" and run.name == "Tiny: bt"        # visible in the app like any run
    assert [c["held"] for c in record["claims"]] == [True, True, False]
    assert all(c["left"] is not None for c in record["claims"])
    assert seen and seen[-1] == 1.0
    saved = lessons.load_record(store, "tiny", 0)
    assert saved["claims"] == json.loads(json.dumps(record["claims"]))
    assert lessons.describe(lesson, store)["last"] == "seed 0: 2/3 claims held"
    # What ships with the app (assets/lessons_measured.json) and LESSONS.md's table come from these same records.
    published = lesson_results.publish(store, [lesson])
    assert [c["held"] for c in published["lessons"]["tiny"]["0"]] == [True, True, False]
    assert "CPU cores" in published["machine"]
    path = lesson_results.save(published, tmp_path / "measured.json")
    assert lesson_results.load(path) == json.loads(json.dumps(published))
    table = lesson_results.markdown_table(lesson_results.load(path), [lesson]).splitlines()
    assert table[0] == "| lesson | claim | seed 0 | seed 1 |" and len(table) == 2 + 3
    assert table[2].startswith("| `tiny` | the matrix has a diagonal | ✅ ")
    assert "| ❌ " in table[4] and all(row.endswith("| — not measured |") for row in table[2:])
    reworded = dataclasses.replace(lesson, claims=[dataclasses.replace(lesson.claims[0], says="reworded since")])
    assert lesson_results.markdown_table(published, [reworded]).splitlines()[2] == \
        "| `tiny` | reworded since | — not measured | — not measured |"  # not shown with the old words' verdict
    assert lesson_results.load(tmp_path / "missing.json") == {"lessons": {}}
    again = lessons.launch(lesson, store, seed=0)
    assert again["runs"] == record["runs"] and again["reused"] == ["bt"]  # same config: nothing trains twice
    other_seed = lessons.launch(lesson, store, seed=1)
    assert other_seed["runs"]["bt"] != record["runs"]["bt"]
    store.cancel(other_seed["runs"]["bt"])


def test_cli_lessons_list_and_errors(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(tmp_path / "runs"), *args],
                              capture_output=True, text=True, timeout=300)

    out = cli("lessons", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout.strip().splitlines()[-1])["lessons"]
    assert {"bt_vs_simclr", "sweep_batch_size"} <= {r["id"] for r in rows}
    assert all(r["last"] == "not measured" for r in rows)
    for args, message in ((("lessons", "verify", "nope"), "unknown lesson 'nope'"),
                          (("lessons", "show", "baselines"), "never launched"),
                          (("lessons", "publish"), "no lesson has been verified"),
                          (("sweep", "run"), "needs a sweep"),
                          (("sweep", "show", "colour"), "unknown sweep 'colour'")):
        out = cli(*args)
        assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and message in out.stderr, out.stderr
