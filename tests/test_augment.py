import kornia.augmentation as K
import pytest
import torch

from sslcore.augment import PRESETS, TwoViewAugment, ViewRecipe, recipes, view_difference
from sslcore.config import ConfigError


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g)


def test_two_views_shape_range_and_device(images):
    v1, v2 = TwoViewAugment("barlow_twins", 24)(images, normalize=False)
    assert v1.shape == v2.shape == (64, 3, 24, 24)
    assert v1.dtype == torch.float32 and 0 <= v1.min() and v1.max() <= 1
    assert v1.device == images.device


def test_parameters_differ_per_image(images):
    # The same image repeated must get different crops: torchvision v2 on a batch would give identical views.
    same = images[:1].repeat(16, 1, 1, 1)
    v1, _ = TwoViewAugment("simclr", 32)(same, seed=0)
    distinct = {tuple(v.flatten()[:50].tolist()) for v in v1}
    assert len(distinct) > 8


def test_seeded_views_repeat(images):
    aug = TwoViewAugment("barlow_twins", 32)
    a = aug(images, seed=7)
    b = aug(images, seed=7)
    c = aug(images, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_barlow_twins_preset_is_asymmetric():
    v1, v2 = PRESETS["barlow_twins"]
    assert (v1.blur_p, v2.blur_p, v1.solarize_p, v2.solarize_p) == (1.0, 0.1, 0.0, 0.2)
    assert (v1.brightness, v1.contrast, v1.saturation, v1.hue, v1.jitter_p, v1.gray_p) == (0.4, 0.4, 0.2, 0.1, 0.8, 0.2)


def test_applied_fractions_follow_probabilities():
    images = torch.full((2000, 3, 16, 16), 200, dtype=torch.uint8)
    aug = TwoViewAugment("barlow_twins", 16)
    v1, v2 = aug(images, seed=0, normalize=False)
    d = view_difference(v1, v2, aug.last_applied)
    assert d["view1.blur"] == 1.0 and abs(d["view2.blur"] - 0.1) < 0.03
    assert d["view1.solarize"] == 0.0 and abs(d["view2.solarize"] - 0.2) < 0.03
    assert abs(d["view1.flip"] - 0.5) < 0.05 and 0.08 < d["view1.crop_area"] < 1


def test_none_preset_returns_the_image_and_zero_distance(images):
    aug = TwoViewAugment("none", 32)
    v1, v2 = aug(images, normalize=False)
    assert torch.allclose(v1, images.float() / 255, atol=1e-5)
    assert view_difference(v1, v2)["mean_pixel_distance"] < 1e-6


def test_strength_scales_difference(images):
    def distance(strength):
        aug = TwoViewAugment("simclr", 32, strength=strength)
        return view_difference(*aug(images, seed=1, normalize=False))["mean_pixel_distance"]
    assert distance(0.0) < 1e-6 < distance(0.5) < distance(1.5)


def test_overrides_per_view_then_strength():
    v1, v2 = recipes("barlow_twins", 0.5, {"view2.solarize_p": 0.8, "blur_p": 0.6})
    assert v1.blur_p == v2.blur_p == pytest.approx(0.3)
    assert v2.solarize_p == pytest.approx(0.4) and v1.solarize_p == 0
    assert ViewRecipe().scaled(0).crop_scale_min == 1.0


@pytest.mark.parametrize("bad", [{"view3.blur_p": 0.1}, {"blur_p": 1.5}, {"wings": 1}, {"hue": 0.9}])
def test_bad_overrides(bad):
    with pytest.raises(ConfigError, match="overrides"):
        recipes("barlow_twins", 1.0, bad)


def test_unknown_preset_and_bad_input(images):
    with pytest.raises(ConfigError, match="unknown preset"):
        TwoViewAugment("heavy", 32)
    with pytest.raises(ValueError, match="uint8"):
        TwoViewAugment()(images.float())


def test_extra_views_for_relational(images):
    views = TwoViewAugment("simclr", 16)(images, num_views=4)
    assert len(views) == 4 and all(v.shape == (64, 3, 16, 16) for v in views)


def test_rotation_turns_each_image_its_own_way_without_black_corners():
    top_lit = torch.zeros((400, 3, 32, 32), dtype=torch.uint8)
    top_lit[:, :, :16] = 200
    v1, _ = TwoViewAugment("none", 32, overrides={"rotation": 180})(top_lit, seed=0, normalize=False)
    still_top_lit = (v1[:, :, :16].mean((1, 2, 3)) > v1[:, :, 16:].mean((1, 2, 3))).float().mean()
    assert 0.35 < still_top_lit < 0.65          # unrotated: 1.0; uniform angles: about half stay upright
    grey = torch.full((8, 3, 32, 32), 120, dtype=torch.uint8)
    v1, _ = TwoViewAugment("none", 32, overrides={"rotation": 45})(grey, seed=0, normalize=False)
    assert torch.allclose(v1, torch.full_like(v1, 120 / 255), atol=1e-3)  # reflected, not zero-filled corners


@pytest.mark.parametrize("bad", [{"rotation": 200}, {"rotation": -5}])
def test_bad_rotation(bad):
    with pytest.raises(ConfigError, match="rotation"):
        recipes("barlow_twins", 1.0, bad)


def test_channel_shuffle_sends_red_to_any_channel_and_noise_has_its_std():
    red = torch.zeros((600, 3, 8, 8), dtype=torch.uint8)
    red[:, 0] = 220
    v1, _ = TwoViewAugment("none", 8, overrides={"shuffle_p": 1.0})(red, seed=0, normalize=False)
    brightest = v1.mean((2, 3)).argmax(1)
    assert all(0.25 < (brightest == c).float().mean() < 0.42 for c in range(3))   # uniform: 1/3 each
    grey = torch.full((64, 3, 16, 16), 128, dtype=torch.uint8)
    v1, _ = TwoViewAugment("none", 16, overrides={"noise_p": 1.0, "noise_std": 0.1})(grey, seed=0, normalize=False)
    assert abs(float((v1 - 128 / 255).std()) - 0.1) < 0.01


@pytest.mark.parametrize("preset", ["simclr", "barlow_twins", "shapes"])
def test_views_computed_in_chunks_equal_the_whole_batch_op_by_op(preset, images, monkeypatch):
    # The pipeline runs a chunk of images at a time with the flip folded into the crop; replaying every op on the
    # whole batch, one after the other with the same draws, must give the same views.
    import sslcore.augment as augment

    aug = TwoViewAugment(preset, 24)
    monkeypatch.setattr(augment, "CHUNK_BYTES", 1)                  # one image per chunk
    chunked = aug(images, seed=3, normalize=False)
    torch.manual_seed(3)
    x = images.float() / 255
    for view, ops in zip(chunked, aug.views):
        v = x
        for name, op in ops.items():
            if op.p > 0:
                v = op(v, params=op.forward_parameters(v.shape))
        torch.testing.assert_close(view, v.clamp(0, 1), atol=1e-6, rtol=0)
