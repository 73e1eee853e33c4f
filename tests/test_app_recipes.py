"""The Train page's recipe picker: a published recipe fills the form; what has no form field rides along."""
from test_app import no_exception, open_page, texts, use_runs  # noqa: F401  (use_runs is a fixture)


def test_loading_a_recipe_fills_the_form_and_names_what_else_it_sets(tmp_path, use_runs):  # noqa: F811
    use_runs(tmp_path / "runs")
    at = open_page("train")
    at.selectbox(key="train.recipe_pick").set_value("relational_stl10").run()
    at.button(key="train.load_recipe").click().run()
    no_exception(at)
    assert at.selectbox(key="train.method").value == "relational"
    assert at.selectbox(key="train.backbone").value == "resnet34"
    assert at.selectbox(key="train.optimizer").value == "adam"
    assert at.selectbox(key="train.image_size").value == 96
    shown = texts(at)
    assert "Self-supervised relational reasoning on STL-10" in shown and "`focal_gamma=2.0`" in shown
    assert at.session_state["train.recipe"]["extra"]["focal_gamma"] == 2.0
    at.selectbox(key="train.recipe_pick").set_value("keras_barlow_twins_cifar10").run()
    at.button(key="train.load_recipe").click().run()
    no_exception(at)
    assert at.selectbox(key="train.optimizer").value == "lamb"     # LAMB is offered by the form
    assert at.number_input(key="train.projector_dim").value == 5000
    at.button(key="train.load_lesson").click().run()                # a lesson replaces the recipe entirely
    assert "train.recipe" not in at.session_state
