"""sslcore.resized_crop: one grid_sample over the batch resamples kornia's crop boxes as kornia's per-image
interpolate does; a folded flip is exactly the flip of the crop."""
import pytest
import torch

from sslcore.resized_crop import RandomResizedCrop


@pytest.mark.parametrize("source, size, scale", [((96, 96), 96, (0.08, 1.0)), ((40, 50), 32, (0.2, 1.0)),
                                                 ((32, 32), 16, (1.0, 1.0))])
def test_equals_kornias_crop_on_the_same_boxes(source, size, scale):
    torch.manual_seed(0)
    x = torch.rand(48, 3, *source)
    op = RandomResizedCrop(size, scale)
    params = op._kornia.forward_parameters(x.shape)
    ours = op(x, params=params)
    assert ours.shape == (48, 3, size, size)
    torch.testing.assert_close(ours, op._kornia(x, params=params), atol=5e-5, rtol=0)


def test_folded_flip_is_the_flip_of_the_crop_and_masks_crop_too():
    torch.manual_seed(1)
    x = torch.rand(64, 1, 30, 30)
    op = RandomResizedCrop(24, (0.08, 1.0))
    params = op.forward_parameters(x.shape)
    flip = torch.rand(64) < 0.5
    expected = op(x, params=params)
    expected[flip] = expected[flip].flip(-1)
    assert torch.equal(op(x, params=params, flip=flip), expected)


def test_crop_areas_follow_the_scale_range():
    op = RandomResizedCrop(32, (0.25, 1.0))
    torch.manual_seed(2)
    box = op.forward_parameters((2000, 3, 64, 64))["src"].float()
    area = (box[:, 1, 0] - box[:, 0, 0] + 1) * (box[:, 2, 1] - box[:, 1, 1] + 1) / 64 ** 2
    assert 0.2 < float(area.min()) and float(area.max()) <= 1.0
    assert 0.5 < float(area.mean()) < 0.75          # uniform in [0.25, 1] before kornia's aspect fitting
