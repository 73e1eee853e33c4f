import pytest
import torch
import torchvision

from sslcore.backbones import BACKBONES, ConvNet, build_backbone
from sslcore.config import ConfigError


@pytest.mark.parametrize("name", list(BACKBONES))
def test_backbones_map_images_to_features(name):
    net = build_backbone(name).eval()
    size = max(32, BACKBONES[name].min_image_size)
    with torch.no_grad():
        f = net(torch.randn(2, 3, size, size))
    assert f.shape == (2, net.out_dim)


def test_resnet_weights_load_into_plain_torchvision():
    net = build_backbone("resnet18")
    plain = torchvision.models.resnet18()
    plain.fc = torch.nn.Identity()
    plain.load_state_dict(net.state_dict())
    x = torch.randn(2, 3, 32, 32)
    net.eval(), plain.eval()
    assert torch.allclose(net(x), plain(x))


def test_convnet_reloads_and_cifar_stem_keeps_resolution():
    a, b = ConvNet(), ConvNet()
    b.load_state_dict(a.state_dict())
    cifar = build_backbone("resnet18_cifar")
    assert cifar.conv1.stride == (1, 1) and isinstance(cifar.maxpool, torch.nn.Identity)


def test_unknown_backbone():
    with pytest.raises(ConfigError, match="backbone: unknown backbone 'vit'"):
        build_backbone("vit")
