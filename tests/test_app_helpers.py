"""Unit tests of the app's page helpers that need no Streamlit session: figures, live metric cache, tables, images."""
from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from lens_ui.figures import curves_figure, ema, heatmap_figure, matrix_stats, scatter_figure, shared_range
from lens_ui.images import thumbnail_uri, tile_row, to_hwc_uint8
from lens_ui.live import MetricCache, collapse_verdict, eta_seconds, loss_terms, steps_per_second
from lens_ui.tables import compare_table, probe_table, protocol_label
from sslcore.config import RunConfig
from sslcore.runs import RunStore


def test_ema_is_debiased_and_skips_nan():
    assert np.allclose(ema([2.0, 2.0, 2.0], 0.9), [2.0, 2.0, 2.0])  # debiased: no ramp from 0
    out = ema([1.0, float("nan"), 1.0], 0.5)
    assert np.allclose(out, [1.0, 1.0, 1.0])
    assert np.allclose(ema([1, 5], 0.0), [1, 5])


def test_heatmap_uses_the_fixed_diverging_scale():
    fig = heatmap_figure(np.eye(4) * 0.3, title="t")
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax, trace.zmid) == (-1, 1, 0)
    assert fig.layout.yaxis.autorange == "reversed"
    assert heatmap_figure(None).data == ()  # an empty figure with a message, not an error


def test_matrix_stats_of_the_identity():
    s = matrix_stats(np.eye(5))
    assert s["diag_mean"] == 1 and s["diag_above_0.9"] == 1 and s["offdiag_abs_mean"] == 0


def test_shared_range_covers_every_series_and_handles_log():
    lo, hi = shared_range([[1, 2], [0.5, 10]])
    assert lo < 0.5 and hi > 10
    lo, hi = shared_range([[1, 100], [10, -1]], log=True)
    assert lo < 0 < 2 < hi  # log10 range, non-positive values dropped
    assert shared_range([[], []]) is None


def test_curves_share_given_ranges():
    fig = curves_figure({"loss": ([1, 2, 3], [3, 2, 1])}, x_range=(0, 10), y_range=(0, 5), smoothing=0.5)
    assert tuple(fig.layout.xaxis.range) == (0, 10) and tuple(fig.layout.yaxis.range) == (0, 5)
    assert [t.name for t in fig.data] == ["loss (raw)", "loss"]


def test_scatter_is_webgl_with_row_indices_as_customdata():
    xy = np.random.default_rng(0).normal(size=(30, 2))
    colour = np.arange(30) % 3
    fig = scatter_figure(xy, colour, colour_names=["a", "b", "c"], highlight=[0, 1])
    assert {t.type for t in fig.data} == {"scattergl"}
    assert [t.name for t in fig.data] == ["a", "b", "c", "neighbours"]
    rows = sorted(int(r) for t in fig.data[:3] for r in t.customdata)
    assert rows == list(range(30))


def test_metric_cache_reads_only_new_rows_and_restarts_after_a_rewind(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(RunConfig().replace(train_size=64, batch_size=16), status="running")
    store.log_metrics(run_id, 1, 0.1, {"loss": 3.0, "invariance": 2.0, "redundancy": 1.0, "lr": 0.1,
                                       "embedding_std": 0.1, "contrastive_accuracy": 0.5})
    cache = MetricCache(run_id)
    assert cache.update(store) == 1 and cache.latest("loss") == 3.0
    assert cache.update(store) == 0  # nothing new
    store.log_metrics(run_id, 2, 0.2, {"loss": 2.0})
    assert cache.update(store) == 1 and cache.series("loss") == ([1, 2], [3.0, 2.0])
    assert loss_terms(set(cache.data)) == ["invariance", "redundancy"]
    store.truncate_after(run_id, 1)  # a resume from step 1 drops step 2
    store.log_metrics(run_id, 2, 0.2, {"loss": 2.5})
    cache.update(store, run_step=1)
    assert cache.series("loss") == ([1, 2], [3.0, 2.5])


def test_speed_eta_and_collapse_verdicts():
    cache = MetricCache("x")
    cache.data["loss"] = {"step": [10, 20], "epoch": [0, 0], "value": [1, 1], "wall_time": [100.0, 105.0]}
    assert steps_per_second(cache) == 2.0
    assert eta_seconds(20, 100, 2.0) == 40.0 and eta_seconds(100, 100, 2.0) == 0.0
    assert collapse_verdict(None, None, 64)[0] == "unknown"
    assert collapse_verdict(1 / math.sqrt(64), 30.0, 64)[0] == "healthy"
    assert collapse_verdict(0.001, 1.0, 64)[0] == "collapsed"
    assert collapse_verdict(0.1, 2.5, 512, batch=128)[0] == "dimensional"


RESULTS = {"step": 8, "metrics": {"knn/class": 0.5, "linear/class": 0.6, "knn/colour": 0.2, "linear/colour": 0.3},
           "baselines": {"raw_pixels": {"knn/class": 0.2, "linear/class": 0.25},
                         "random_backbone": {"knn/class": 0.3, "linear/class": 0.35}},
           "protocol": {"targets": ["class", "colour"], "chance": {"class": 0.125, "colour": 0.125},
                        "features": "backbone", "feature_dim": 128, "dataset": "shapes", "image_size": 32,
                        "n_train": 64, "n_test": 200, "knn": {"k": 20, "temperature": 0.07},
                        "linear": {"max_iter": 100, "weight_decay": 5e-4}}}


def test_probe_and_compare_tables():
    t = probe_table(RESULTS)
    assert list(t.index) == ["class", "colour"]
    assert t.loc["class", "kNN · this run"] == 0.5 and t.loc["class", "linear · raw pixels"] == 0.25
    assert t.loc["colour", "chance"] == 0.125
    assert "k=20" in protocol_label(RESULTS) and "200 test" in protocol_label(RESULTS)
    c = compare_table([("a", RESULTS), ("b", None)])
    assert list(c.index) == ["a", "b", "baseline: raw pixels (shapes)", "baseline: random backbone (shapes)"]
    assert c.loc["a", "kNN class"] == 0.5 and math.isnan(c.loc["b", "kNN class"])


def test_images_tile_and_thumbnail():
    x = torch.randint(0, 255, (3, 3, 8, 8), dtype=torch.uint8)
    assert to_hwc_uint8(x).shape == (3, 8, 8, 3)
    row = tile_row(x.float() / 255, tile=16, gap=2)
    assert row.shape == (16, 3 * 16 + 2 * 2, 3) and row.dtype == np.uint8
    uri = thumbnail_uri(x[0], size=24)
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.size == (24, 24)


def test_sprite_sheet_places_image_i_at_row_column():
    from lens_ui.hover import sprite_sheet

    x = torch.zeros((40, 3, 32, 32), dtype=torch.uint8)
    x[33] = 255  # row 1, column 1 of a 32-column sheet
    uri = sprite_sheet(x, tile=32, columns=32, quality=95)
    sheet = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert sheet.shape == (64, 1024, 3)
    assert sheet[32:64, 32:64].mean() > 240 and sheet[0:32, 0:32].mean() < 15


@pytest.mark.parametrize("name", ["home.md", "augmentations.md", "train.md", "monitor.md", "embeddings.md",
                                  "compare.md"])
def test_every_explanation_exists(name):
    from lens_ui.common import asset

    assert len(asset(name)) > 200


def test_lessons_are_valid_configs():
    from sslcore.lessons import load_lessons, run_config

    for lesson in load_lessons():
        assert lesson.title and lesson.summary and lesson.watch and lesson.runs
        for run in lesson.runs:
            run_config(lesson, run).validate()
