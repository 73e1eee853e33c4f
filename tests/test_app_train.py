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
