import json

import pytest

from sslcore.config import ConfigError, RunConfig


def test_defaults_validate_and_round_trip(tmp_path):
    cfg = RunConfig().validate()
    path = tmp_path / "c.json"
    path.write_text(cfg.to_json())
    assert RunConfig.load(path) == cfg


def test_replace_uses_flat_names():
    cfg = RunConfig().replace(method="simclr", lr=0.5, image_size=48, seed=3)
    assert (cfg.method.name, cfg.optim.lr, cfg.data.image_size, cfg.seed) == ("simclr", 0.5, 48, 3)


@pytest.mark.parametrize("flat, field", [
    ({"dataset": "imagenet"}, "dataset"), ({"method": "dino"}, "method"), ({"backbone": "vit"}, "backbone"),
    ({"augment": "heavy"}, "augment"), ({"epochs": 0}, "epochs"), ({"batch_size": -4}, "batch_size"),
    ({"image_size": 0}, "image_size"), ({"lr": 0}, "lr"), ({"optimizer": "rmsprop"}, "optimizer"),
    ({"strength": 5}, "strength"), ({"device": "tpu"}, "device"), ({"overrides": {"view3.blur_p": 1}}, "overrides"),
    ({"overrides": {"blur_p": 2}}, "overrides"), ({"temperature": 0}, "temperature"),
])
def test_bad_values_name_the_field(flat, field):
    with pytest.raises(ConfigError) as e:
        RunConfig().replace(**flat).validate()
    message = str(e.value)
    assert message.startswith(field) and "\n" not in message


def test_batch_stats_methods_need_two_images():
    with pytest.raises(ConfigError, match="batch_size.*≥ 2"):
        RunConfig().replace(batch_size=1).validate()


def test_image_too_small_for_backbone_names_the_fix():
    with pytest.raises(ConfigError, match="image_size: backbone resnet18 needs.*32"):
        RunConfig().replace(backbone="resnet18", image_size=16).validate()
    RunConfig().replace(backbone="convnet", image_size=16).validate()


def test_unknown_fields_and_types_in_files(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"optim": {"lr": "fast"}}))
    with pytest.raises(ConfigError, match="optim.lr: expected a number"):
        RunConfig.load(path)
    path.write_text(json.dumps({"optim": {"learning_rate": 1}}))
    with pytest.raises(ConfigError, match="optim.learning_rate: unknown field"):
        RunConfig.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig.load(tmp_path / "missing.json")


def test_unknown_flat_option():
    with pytest.raises(ConfigError, match="learning_rate: unknown option"):
        RunConfig().replace(learning_rate=1)
