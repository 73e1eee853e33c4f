"""The measured augmentation verdict: object masks, views replayed with their masks, and the verdict itself."""
import pytest
import torch

from sslcore.augment import TwoViewAugment
from sslcore.data import load_dataset
from sslcore.view_quality import measure, object_masks, views_with_masks


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", "train", image_size=32, size=128).images


def _squares(n: int = 64, side: int = 32, square: int = 10) -> torch.Tensor:
    """Dark backgrounds of varied colours, each with one light square at a varied place (uint8 N×3×H×W)."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 3, 1, 1, generator=g) * 80).expand(n, 3, side, side).clone()
    for i in range(n):
        r, c = torch.randint(2, side - square - 2, (2,), generator=g).tolist()
        x[i, :, r:r + square, c:c + square] = 200 + torch.rand(3, 1, 1, generator=g) * 55
    return x.to(torch.uint8)


def test_object_mask_is_the_light_square_on_a_flat_background():
    x = torch.zeros(1, 3, 16, 16)
    x[0, :, 4:9, 6:12] = 0.9
    m = object_masks(x)
    assert m[0, 4:9, 6:12].all()
    assert int(m.sum()) == 5 * 6


def test_views_with_masks_are_exactly_the_views_the_augmentation_draws(shapes):
    aug = TwoViewAugment("shapes", 32, 1.0)
    expected = aug(shapes[:16], seed=7, normalize=False)
    got = views_with_masks(aug, shapes[:16], object_masks(shapes[:16].float() / 255), seed=7)
    for (view, mask, area), want in zip(got, expected):
        assert torch.equal(view, want)
        assert mask.shape == (16, 32, 32) and mask.dtype == torch.bool
        assert ((area > 0) & (area <= 1)).all()


def test_no_augmentation_is_too_weak_and_keeps_every_object():
    q = measure(TwoViewAugment("none", 32, 1.0), _squares())
    assert q.verdict == "too weak"
    assert q.shortcut == 1.0 and q.object_kept == 1.0 and q.pixel_distance == 0.0


def test_tiny_crops_are_too_strong_because_they_cut_the_object_out():
    q = measure(TwoViewAugment("none", 32, 1.0, {"crop_scale_min": 0.02}), _squares(square=4), seed=1)
    assert q.verdict == "too strong", q
    assert q.cropped_out > 0.4 and q.faded == 0.0


def test_near_black_contrast_fades_the_object():
    aug = TwoViewAugment("none", 32, 1.0, {"jitter_p": 1.0, "brightness": 0.95, "contrast": 0.95})
    q = measure(aug, _squares(), seed=2)
    assert q.faded > 0.1
    assert q.cropped_out == 0.0  # no crop, no rotation: nothing is cut


def test_the_verdict_changes_from_too_weak_to_too_strong_with_strength(shapes):
    verdicts = [measure(TwoViewAugment("shapes", 32, s), shapes).verdict for s in (0.2, 1.0, 2.5)]
    assert verdicts[0] == "too weak"
    assert verdicts[1] in ("useful", "strong")
    assert verdicts[2] == "too strong"


def test_images_without_an_object_give_no_object_measure():
    flat = torch.full((32, 3, 16, 16), 90, dtype=torch.uint8)
    q = measure(TwoViewAugment("barlow_twins", 16, 1.0), flat)
    assert q.object_kept is None and q.cropped_out is None
    assert q.verdict in ("too weak", "useful")
