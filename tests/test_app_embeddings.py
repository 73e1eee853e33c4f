"""AppTest of the Embeddings page: colour factors in their colours, 3-D, a value filter, k neighbours ranked, the
instructive first query and the probe table's goals."""
from __future__ import annotations

from test_app import finished, no_exception, open_page, plotly_specs, texts, use_runs  # noqa: F401 — fixtures

from lens_ui.figures import NAMED_COLOURS


def scatter(at) -> dict:
    [spec] = [s for s in plotly_specs(at) if s["data"] and s["data"][0]["type"] in ("scattergl", "scatter3d")]
    return spec


def test_colour_factor_values_are_drawn_in_their_own_colours(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("embeddings", {"run": ids[0]})
    at.selectbox(key="emb.colour").set_value("colour").run()
    no_exception(at)
    traces = {t["name"]: t["marker"]["color"] for t in scatter(at)["data"] if t["name"] in NAMED_COLOURS}
    assert traces, "no trace named after a colour"
    assert all(colour == NAMED_COLOURS[name] for name, colour in traces.items())


def test_three_d_filter_and_k(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("embeddings", {"run": ids[0]})
    at.toggle(key="emb.3d").set_value(True).run()
    no_exception(at)
    assert scatter(at)["data"][0]["type"] == "scatter3d" and "PCA 3-D of" in texts(at)
    first = at.multiselect(key="emb.filter").options[0]
    at.multiselect(key="emb.filter").select(first).run()
    no_exception(at)
    names = [t["name"] for t in scatter(at)["data"]]
    assert "filtered out" in names and " shown" in texts(at)
    at.select_slider(key="emb.k").set_value(4).run()
    no_exception(at)
    ranked = [c for img in at.get("image") for c in img.captions if c[:2] in ("1.", "2.", "3.", "4.", "5.")]
    assert [c[:2] for c in ranked] == ["1.", "2.", "3.", "4."]


def test_the_first_query_is_chosen_and_the_probe_table_says_each_goal(finished, use_runs):
    root, ids = finished
    use_runs(root)
    at = open_page("embeddings", {"run": ids[0]})
    no_exception(at)
    assert at.session_state["emb.query"] == at.number_input(key="emb.query").value
    table = at.dataframe[0].value
    assert table.loc["class", "goal"].startswith("↑") and table.loc["colour", "goal"].startswith("↓")
    assert "raw pixels" in table.columns and "linear · this run" not in table.columns  # one protocol at a time
    for base in ("raw pixels", "random backbone"):
        assert set(table[f"met vs {base}"]) <= {"✅", "❌"}
    colour = table.loc["colour"]
    assert colour["met vs raw pixels"] == ("✅" if colour["this run"] < colour["raw pixels"] else "❌")
    cls = table.loc["class"]
    assert cls["met vs raw pixels"] == ("✅" if cls["this run"] > cls["raw pixels"] else "❌")
    assert "should be predicted *worse*" in texts(at)
    at.radio(key="emb.protocol").set_value("linear").run()
    no_exception(at)
    linear = at.dataframe[0].value
    assert list(linear.index) == list(table.index) and set(linear["met vs raw pixels"]) <= {"✅", "❌"}


def test_fine_tuning_shows_beside_the_probes_with_its_protocol_and_a_hint_when_absent(finished, use_runs, tmp_path):
    import shutil

    from sslcore.evaluate.finetune import finetune_run
    from sslcore.runs import RunStore

    root, ids = finished
    copy = shutil.copytree(root, tmp_path / "runs")   # the module's runs stay without a fine-tune
    result = finetune_run(RunStore(copy), ids[0], epochs=1, train_size=32, test_size=32)
    use_runs(copy)
    at = open_page("embeddings", {"run": ids[0]})
    no_exception(at)
    [table] = [d.value for d in at.dataframe if "fine-tuned" in d.value.index]
    metrics = result["metrics"]
    assert table.loc["fine-tuned", "class accuracy"] == metrics["finetune/class"]
    assert table.loc["supervised from scratch", "class accuracy"] == metrics["supervised_scratch/class"]
    assert table.loc["linear probe (frozen)", "class accuracy"] == metrics["linear/class"]
    page = texts(at).replace("\\", "")   # the protocol line is shown through plain(): escapes
    assert "1 epochs, Adam lr 0.001, batch 128" in page and "32 labelled train / 32 test images" in page
    assert "same epochs, lr, batch and augmentation" in page and "--finetune" not in page

    at = open_page("embeddings", {"run": ids[1]})
    no_exception(at)
    assert not [d for d in at.dataframe if "fine-tuned" in d.value.index]
    assert f"python -m sslcore eval {ids[1]} --finetune" in texts(at)
