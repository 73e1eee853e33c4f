"""sslcore.recipes: every published recipe builds its model and trains; --recipe fills the config, flags override."""
import json

import pytest
import torch
from test_data import _fake_stl10, no_md5  # noqa: F401  (no_md5 is a fixture)

from sslcore import cli
from sslcore.data import ImageSet
from sslcore.recipes import RECIPES, flops_per_pair
from sslcore.train import Recorder, Trainer


class _Metrics(Recorder):
    def __init__(self):
        self.rows: list[dict] = []

    def log_metrics(self, step, epoch, values):
        self.rows.append(values)


def test_the_five_recipes_of_the_issue_exist_and_validate():
    assert {"keras_barlow_twins_cifar10", "keras_simclr_stl10", "relational_stl10", "barlow_twins_imagenet",
            "mmselfsup_barlow_twins_r50"} <= set(RECIPES)
    for recipe in RECIPES.values():
        cfg = recipe.config().validate()
        assert cfg.recipe == recipe.name and recipe.source and recipe.published


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_builds_its_model_and_trains_two_steps(name):
    recipe = RECIPES[name]
    cfg = recipe.config()
    size = cfg.data.image_size
    # Cheap on purpose: batch 2 and a projector at most 64 wide (the 8192-wide one is 150 M parameters, 1.8 GB with
    # gradients and momentum). Backbone, method, optimizer, loss, augmentation and image size stay the recipe's.
    cfg = cfg.replace(projector_dim=min(64, cfg.method.projector_dim), batch_size=2, epochs=1, warmup_epochs=0.0,
                      device="cpu", log_every=1)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, size, size), dtype=torch.uint8, generator=g)
    train_set = ImageSet(images, torch.tensor([0, 1, -1, 1]), [str(i) for i in range(10)], name="synthetic")
    recorder = _Metrics()
    trainer = Trainer(cfg, recorder, train_set=train_set)
    before = [p.detach().clone() for p in trainer.model.backbone.parameters()]
    summary = trainer.fit()
    assert summary["step"] == 2 and summary["status"] == "finished"
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in recorder.rows)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.backbone.parameters()))
    assert type(trainer.state.optimizer).__name__.lower().startswith(cfg.optim.optimizer)
    # Labels 0, 1, -1, 1: the probe trains on the labelled ones (relational_stl10 pre-trains on the unlabeled
    # split, but this synthetic set has labels, so its probe runs here too).
    assert "online_probe_accuracy" in recorder.rows[-1]


def test_flags_override_the_recipe():
    args = cli.build_parser().parse_args(["train", "--recipe", "keras_barlow_twins_cifar10", "--lr", "0.5",
                                          "--epochs", "3"])
    cfg = cli.config_from_args(args)
    assert (cfg.optim.lr, cfg.optim.epochs) == (0.5, 3)
    assert (cfg.optim.optimizer, cfg.method.backbone, cfg.method.projector_dim) == ("lamb", "resnet34", 5000)
    assert cfg.recipe == "keras_barlow_twins_cifar10"


def test_a_config_file_overrides_the_recipe_where_it_sets_something(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"optim": {"batch_size": 64}}))
    args = cli.build_parser().parse_args(["train", "--recipe", "barlow_twins_imagenet", "--config", str(path)])
    cfg = cli.config_from_args(args)
    assert cfg.optim.batch_size == 64 and cfg.optim.optimizer == "lars" and cfg.optim.lr_biases == 0.0384


def test_unknown_recipe_is_a_one_line_error(capsys):
    assert cli.main(["train", "--recipe", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: recipe: unknown recipe 'nope'") and "\n" not in err


def test_recipes_command_lists_figures_and_an_estimate(capsys):
    assert cli.main(["recipes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["recipes"]
    assert [r["name"] for r in rows] == list(RECIPES)
    assert all(r["estimated_seconds"] > 0 and r["published"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    # ResNet-50 at 224 px for 1000 epochs of ImageNet costs more than a convnet on STL-10 for 20.
    assert by_name["barlow_twins_imagenet"]["estimated_seconds"] > 1000 * by_name["keras_simclr_stl10"][
        "estimated_seconds"]


def test_flops_per_pair_counts_every_view():
    cfg = RECIPES["relational_stl10"].config()
    assert flops_per_pair(cfg.replace(num_views=4)) == pytest.approx(2 * flops_per_pair(cfg.replace(num_views=2)))


def test_focal_loss_is_relationnets():
    """relationnet.py's FocalLoss(γ 2, α 0.5): mean of α_t (1 − p_t)^γ BCE, written out here as its code does."""
    from sslcore.backbones import build_backbone
    from sslcore.methods import build_method

    cfg = RECIPES["relational_stl10"].config().method
    torch.manual_seed(0)
    method = build_method(cfg, build_backbone("convnet"))
    views = [torch.randn(6, 3, 16, 16) for _ in range(4)]
    scores = []
    method.relation_head.register_forward_hook(lambda module, inputs, output: scores.append(output.detach()))
    out = method(*views)
    s = scores[0].squeeze(1)
    t = torch.cat([torch.cat([torch.ones(6), torch.zeros(6)]) for _ in range(6)])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(s, t, reduction="none")
    p = torch.sigmoid(s)
    p_t = t * p + (1 - t) * (1 - p)
    expected = ((1 - p_t) ** 2 * (t * 0.5 + (1 - t) * 0.5) * bce).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert "focal" in out.terms


def test_train_recipe_keras_simclr_on_an_stl10_fixture_logs_the_online_probe(tmp_path, no_md5, capsys):  # noqa: F811
    _fake_stl10(tmp_path / "data", n_train=16, n_test=8, n_unlabeled=8)
    code = cli.main(["--runs-dir", str(tmp_path / "runs"), "--json", "train", "--recipe", "keras_simclr_stl10",
                     "--dataset", "stl10", "--data-root", str(tmp_path / "data"), "--epochs", "2",
                     "--log-every", "1"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, result
    assert 0 <= result["metrics"]["online_probe_accuracy"] <= 1
    from sslcore.runs import RunStore

    store = RunStore(tmp_path / "runs")
    cfg = store.config(result["id"])
    assert cfg.recipe == "keras_simclr_stl10" and cfg.data.train_split == "train+unlabeled"
    assert len(store.metrics(result["id"])["online_probe_accuracy"]["value"]) >= 2


def test_estimates_use_the_share_measured_on_their_device_type():
    """A GPU step reaches a smaller share of its matmul rate than a CPU step (BENCHMARKS.md): the same recipe at the
    same rate is estimated slower on CUDA, and the basis names the share."""
    from sslcore.recipes import efficiency, estimate_seconds

    recipe = RECIPES["keras_barlow_twins_cifar10"]
    cpu, cuda = efficiency(torch.device("cpu")), efficiency(torch.device("cuda"))
    assert cuda < cpu and efficiency(torch.device("mps")) == cpu
    assert estimate_seconds(recipe, 1e12, cuda) == pytest.approx(estimate_seconds(recipe, 1e12, cpu) * cpu / cuda)
