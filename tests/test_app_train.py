"""AppTest of the Train form's wording: implausible learning rates warned per optimizer, and the time estimate from
the measured speed of past runs."""
from __future__ import annotations

from test_app import finished, no_exception, open_page, texts, use_runs  # noqa: F401 — fixtures


def lr_warnings(at) -> list[str]:
    return [str(w.value) for w in at.warning if "Learning rate" in str(w.value)]


def test_an_implausible_learning_rate_is_warned_for_its_optimizer(tmp_path, use_runs):
    use_runs(tmp_path / "runs")
    at = open_page("train")
    assert not lr_warnings(at)
    at.number_input(key="train.lr").set_value(5.0).run()
    no_exception(at)
    [warning] = lr_warnings(at)
    assert "far above" in warning and at.selectbox(key="train.optimizer").value in warning
    assert not next(b for b in at.button if b.key == "train.launch").disabled  # a warning, not an error
    at.selectbox(key="train.optimizer").set_value("lars").run()
    assert not lr_warnings(at)  # 5 is within what LARS trains with at large batches


def test_the_time_estimate_comes_from_the_speed_of_past_runs(finished, use_runs):
    root, _ = finished
    use_runs(root)
    at = open_page("train")
    assert "No finished run like it here yet" in texts(at)  # the finished runs are 16 px, the form says 32
    at.selectbox(key="train.image_size").set_value(16).run()
    no_exception(at)
    assert "pairs/s, the speed of your last 1 finished barlow_twins run(s)" in texts(at)


def test_a_lesson_not_yet_run_here_shows_what_was_measured_when_it_was_written(tmp_path, use_runs, monkeypatch):
    from sslcore import lesson_results
    from sslcore.lessons import get_lesson

    lesson = get_lesson("bt_vs_simclr")
    shipped = {"measured": "2026-11-26", "machine": "Linux x86_64, 2 CPU cores", "lessons": {"bt_vs_simclr": {
        "0": [{"says": c.says, "left": 0.5, "right": 0.4, "held": True, "pending": None} for c in lesson.claims],
        "1": [{"says": c.says, "left": 0.3, "right": 0.4, "held": i > 0, "pending": None}
              for i, c in enumerate(lesson.claims)]}}}
    monkeypatch.setattr(lesson_results, "SHIPPED", lesson_results.save(shipped, tmp_path / "measured.json"))
    use_runs(tmp_path / "runs")
    at = open_page("train")
    at.selectbox(key="train.lesson").set_value("bt_vs_simclr").run()
    no_exception(at)
    page = texts(at)
    n = len(lesson.claims)
    assert "Measured when the lesson was written" in page and "2026-11-26" in page and "2 CPU cores" in page
    assert f"seed 0: {n}/{n} claims held, seed 1: {n - 1}/{n} claims held" in page
    shown = page.replace("\\", "")  # the claims are written as escaped Markdown
    assert f"{lesson.claims[0].says} — seed 0 ✅ 0.5 vs 0.4; seed 1 ❌ 0.3 vs 0.4" in shown  # per seed
    at.selectbox(key="train.lesson").set_value("relational_k").run()  # nothing shipped for it
    assert "Not measured yet, here or when the lesson was written" in texts(at)
