"""AppTest of the Monitor's labels: SimCLR's matrix compares images, the matrix radio after a run switch, the loss
card's change since the start, explained accuracies, and the run Monitor opens on after a lesson launch."""
from __future__ import annotations

import base64

import numpy as np
from test_app import finished, no_exception, open_page, plotly_specs, texts, tiny, use_runs  # noqa: F401

from sslcore.runs import RunStore


def decode(z) -> np.ndarray:
    """A plotly JSON array: a list, or the typed-array form {"dtype", "bdata", "shape"}."""
    if isinstance(z, dict):
        shape = tuple(int(n) for n in str(z["shape"]).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z, dtype=float)


def heatmap(at) -> dict:
    return next(s for s in plotly_specs(at) if s["data"] and s["data"][0]["type"] == "heatmap")


def test_simclr_view_similarity_is_labelled_by_image_and_shown_as_the_loss_sees_it(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("monitor", {"run": ids[1]})
    no_exception(at)
    spec = heatmap(at)
    assert spec["layout"]["xaxis"]["title"]["text"] == "image j (view 2)"
    assert spec["layout"]["yaxis"]["title"]["text"] == "image i (view 1)"
    assert "softmax" in spec["layout"]["title"]["text"]
    rows = decode(spec["data"][0]["z"])
    assert np.allclose(rows.sum(1), 1, atol=1e-3)  # each row a distribution over the view-2 images
    at.toggle(key="monitor.softmax").set_value(False).run()
    assert "view similarity" in heatmap(at)["layout"]["title"]["text"]
    kind = at.radio(key=f"monitor.kind.{ids[1]}")
    assert kind.value == "matrix" and kind.options == ["view similarity cos(z1_i, z2_j)",
                                                        "embeddings' cross-correlation"]
    kind.set_value("xcorr").run()
    assert heatmap(at)["layout"]["xaxis"]["title"]["text"] == "dimension j (view 2)"
    acc = next(s for s in plotly_specs(at) if s["layout"].get("title", {}).get("text") == "training accuracies")
    assert acc["layout"]["yaxis"]["title"]["text"] and acc["layout"]["xaxis"]["title"]["text"] == "step"
    assert "chance is 1 / (2 × batch − 1)" in texts(at)


def test_the_matrix_radio_has_a_selection_after_a_run_switch(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("monitor", {"run": ids[1]})
    at.radio(key=f"monitor.kind.{ids[1]}").set_value("xcorr").run()
    at.selectbox(key="monitor.run").set_value(ids[0]).run()
    no_exception(at)
    assert at.radio(key=f"monitor.kind.{ids[0]}").value == "matrix"
    at.selectbox(key="monitor.run").set_value(ids[1]).run()
    assert at.radio(key=f"monitor.kind.{ids[1]}").value in ("matrix", "xcorr")


def test_loss_card_shows_the_change_since_the_start_and_terms_are_explained(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("monitor", {"run": ids[0]})
    loss = next(m for m in at.metric if m.label == "Loss")
    assert "since the start" in str(loss.proto.delta)
    assert "Redundancy** starts near 0" in texts(at)
    assert "Collapse check" in texts(at) and "two *views of one image*" in texts(at)


def test_monitor_opens_on_the_first_run_of_a_launched_lesson(tmp_path, use_runs):
    root = use_runs(tmp_path / "runs")
    store = RunStore(root)
    first = store.create_run(tiny(name="lesson: first"), status="queued")
    store.create_run(tiny(name="lesson: second"), status="queued")
    at = open_page("monitor")
    no_exception(at)
    assert at.selectbox(key="monitor.run").value == first


def test_opening_the_monitor_builds_no_metrics_csv_until_it_is_asked_for(finished, use_runs, monkeypatch):
    """The whole history's CSV (0.7 s and 4.4 MB for a 3,000-step run) was built on every page run of every viewer;
    the download button now writes it when clicked."""
    import sslcore.export

    root, ids = finished
    use_runs(root)
    built = []
    real = sslcore.export.metrics_csv
    monkeypatch.setattr(sslcore.export, "metrics_csv", lambda *a, **k: built.append(a) or real(*a, **k))
    at = open_page("monitor", {"run": ids[0]})
    no_exception(at)
    assert [b.proto.label for b in at.get("download_button")] == ["Metrics (CSV)"]
    assert built == []
