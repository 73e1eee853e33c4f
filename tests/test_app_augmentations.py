"""AppTest of the Augmentations page's measured verdict, the asymmetric-views explanation and large thumbnails."""
from __future__ import annotations

from test_app import no_exception, open_page, texts, use_runs  # noqa: F401 — use_runs is a fixture


def verdict(at) -> str:
    boxes = [str(b.value) for kind in (at.success, at.info, at.warning, at.error) for b in kind]
    heads = [b.split("**")[1] for b in boxes if b.startswith("**")]
    assert len(heads) == 1, boxes
    return heads[0].lower()


def test_the_verdict_is_measured_and_differs_at_weak_default_and_strong_strength(tmp_path, use_runs):
    use_runs(tmp_path / "runs")
    at = open_page("augmentations")
    no_exception(at)
    seen = {}
    for strength in (0.2, 1.0, 2.5):
        at.slider(key="aug.strength").set_value(strength).run()
        no_exception(at)
        seen[strength] = verdict(at)
    assert seen[0.2] == "too weak"
    assert seen[1.0] in ("useful", "strong")
    assert seen[2.5] == "too strong"
    assert {m.label for m in at.metric} >= {"Object kept", "Shortcut"}


def test_the_page_says_why_the_two_views_differ_and_offers_large_thumbnails(tmp_path, use_runs):
    use_runs(tmp_path / "runs")
    at = open_page("augmentations")
    at.selectbox(key="aug.preset").set_value("barlow_twins").run()
    assert "Why view 1 and view 2 look different" in texts(at)
    assert "blur_p 1 vs 0.1" in texts(at) and "solarize_p 0 vs 0.2" in texts(at)
    at.toggle(key="aug.large").set_value(True).run()
    no_exception(at)
    at.selectbox(key="aug.preset").set_value("simclr").run()  # the same recipe for both views: nothing to explain
    assert "Why view 1 and view 2 look different" not in texts(at)
