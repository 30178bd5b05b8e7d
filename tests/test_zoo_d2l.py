"""d2l's "Modern CNNs" networks: the output shape after each top-level stage equals what the
book's own PyTorch code gives, layer by layer (the book prints these shapes).

The reference models below are the book's code (chapter 8 of d2l.ai, PyTorch edition),
written with its Lazy layers; each Sequential child is one item of the .cnn network body.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnndsl
from tests.conftest import ARCH


def lenet():
    return [nn.LazyConv2d(6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.LazyConv2d(16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
            nn.LazyLinear(120), nn.Sigmoid(), nn.LazyLinear(84), nn.Sigmoid(), nn.LazyLinear(10)]


def lenet_bn():
    return [nn.LazyConv2d(6, 5), nn.LazyBatchNorm2d(), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.LazyConv2d(16, 5), nn.LazyBatchNorm2d(), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
            nn.LazyLinear(120), nn.LazyBatchNorm1d(), nn.Sigmoid(),
            nn.LazyLinear(84), nn.LazyBatchNorm1d(), nn.Sigmoid(), nn.LazyLinear(10)]


def alexnet():
    return [nn.LazyConv2d(96, 11, 4, 1), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.LazyConv2d(256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.LazyConv2d(384, 3, padding=1), nn.ReLU(), nn.LazyConv2d(384, 3, padding=1), nn.ReLU(),
            nn.LazyConv2d(256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5), nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5),
            nn.LazyLinear(10)]


def vgg_block(num_convs, out_channels):
    layers = []
    for _ in range(num_convs):
        layers += [nn.LazyConv2d(out_channels, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2, 2))


def vgg(ratio):
    arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
    return [*(vgg_block(n, c // ratio) for n, c in arch), nn.Flatten(),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5), nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5),
            nn.LazyLinear(10)]


def nin_block(out_channels, kernel_size, strides, padding):
    return nn.Sequential(nn.LazyConv2d(out_channels, kernel_size, strides, padding), nn.ReLU(),
                         nn.LazyConv2d(out_channels, 1), nn.ReLU(), nn.LazyConv2d(out_channels, 1), nn.ReLU())


def nin():
    return [nin_block(96, 11, 4, 0), nn.MaxPool2d(3, 2), nin_block(256, 5, 1, 2), nn.MaxPool2d(3, 2),
            nin_block(384, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Dropout(0.5), nin_block(10, 3, 1, 1),
            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()]


class Inception(nn.Module):
    def __init__(self, c1, c2, c3, c4):
        super().__init__()
        self.b1_1 = nn.LazyConv2d(c1, 1)
        self.b2_1, self.b2_2 = nn.LazyConv2d(c2[0], 1), nn.LazyConv2d(c2[1], 3, padding=1)
        self.b3_1, self.b3_2 = nn.LazyConv2d(c3[0], 1), nn.LazyConv2d(c3[1], 5, padding=2)
        self.b4_1, self.b4_2 = nn.MaxPool2d(3, 1, 1), nn.LazyConv2d(c4, 1)

    def forward(self, x):
        relu = torch.relu
        b1 = relu(self.b1_1(x))
        b2 = relu(self.b2_2(relu(self.b2_1(x))))
        b3 = relu(self.b3_2(relu(self.b3_1(x))))
        b4 = relu(self.b4_2(self.b4_1(x)))
        return torch.cat((b1, b2, b3, b4), dim=1)


def googlenet():
    b1 = [nn.LazyConv2d(64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    b2 = [nn.LazyConv2d(64, 1), nn.ReLU(), nn.LazyConv2d(192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    b3 = [Inception(64, (96, 128), (16, 32), 32), Inception(128, (128, 192), (32, 96), 64), nn.MaxPool2d(3, 2, 1)]
    b4 = [Inception(192, (96, 208), (16, 48), 64), Inception(160, (112, 224), (24, 64), 64),
          Inception(128, (128, 256), (24, 64), 64), Inception(112, (144, 288), (32, 64), 64),
          Inception(256, (160, 320), (32, 128), 128), nn.MaxPool2d(3, 2, 1)]
    b5 = [Inception(256, (160, 320), (32, 128), 128), Inception(384, (192, 384), (48, 128), 128),
          nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()]
    return [*b1, *b2, *b3, *b4, *b5, nn.LazyLinear(10)]


class Residual(nn.Module):
    def __init__(self, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.LazyConv2d(num_channels, 3, padding=1, stride=strides)
        self.conv2 = nn.LazyConv2d(num_channels, 3, padding=1)
        self.conv3 = nn.LazyConv2d(num_channels, 1, stride=strides) if use_1x1conv else None
        self.bn1, self.bn2 = nn.LazyBatchNorm2d(), nn.LazyBatchNorm2d()

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.conv3(x) if self.conv3 else x))


def resnet_block(num_channels, num_residuals, first_block=False):
    blk = [Residual(num_channels, use_1x1conv=True, strides=2) if i == 0 and not first_block
           else Residual(num_channels) for i in range(num_residuals)]
    return nn.Sequential(*blk)


def resnet18():
    return [nn.LazyConv2d(64, 7, 2, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
            resnet_block(64, 2, first_block=True), resnet_block(128, 2), resnet_block(256, 2),
            resnet_block(512, 2), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LazyLinear(10)]


def conv_block(num_channels):
    return nn.Sequential(nn.LazyBatchNorm2d(), nn.ReLU(), nn.LazyConv2d(num_channels, 3, padding=1))


class DenseBlock(nn.Module):
    def __init__(self, num_convs, num_channels):
        super().__init__()
        self.net = nn.Sequential(*(conv_block(num_channels) for _ in range(num_convs)))

    def forward(self, x):
        for blk in self.net:
            x = torch.cat((x, blk(x)), dim=1)
        return x


def transition_block(num_channels):
    return nn.Sequential(nn.LazyBatchNorm2d(), nn.ReLU(), nn.LazyConv2d(num_channels, 1), nn.AvgPool2d(2, 2))


def densenet():
    layers = [nn.LazyConv2d(64, 7, 2, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    num_channels, growth, arch = 64, 32, (4, 4, 4, 4)
    for i, num_convs in enumerate(arch):
        layers.append(DenseBlock(num_convs, growth))
        num_channels += num_convs * growth
        if i != len(arch) - 1:
            num_channels //= 2
            layers.append(transition_block(num_channels))
    return [*layers, nn.LazyBatchNorm2d(), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LazyLinear(10)]


CASES = {
    "LeNet": ("lenet.cnn", lenet, (1, 28, 28), {}),
    "LeNetBN": ("lenet.cnn", lenet_bn, (1, 28, 28), {}),
    "AlexNet": ("alexnet.cnn", alexnet, (1, 224, 224), {}),
    "VGG11": ("vgg.cnn", lambda: vgg(1), (1, 224, 224), {}),
    "VGG11-ratio4": ("vgg.cnn", lambda: vgg(4), (1, 224, 224), {"ratio": 4}),
    "NiN": ("nin.cnn", nin, (1, 224, 224), {}),
    "GoogLeNet": ("googlenet.cnn", googlenet, (1, 96, 96), {}),
    "ResNet18": ("resnet.cnn", resnet18, (1, 96, 96), {}),
    "DenseNet": ("densenet.cnn", densenet, (1, 96, 96), {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stage_shapes_match_d2l(case):
    file, build, shape, params = CASES[case]
    net = cnndsl.check(ARCH / file, net=case.split("-")[0], **params)
    assert net.input_shape == shape
    x = torch.zeros(2, *shape)
    want = []
    with torch.no_grad():
        for layer in build():
            x = layer.eval()(x) if not isinstance(layer, nn.modules.lazy.LazyModuleMixin) else layer(x)
            want.append(tuple(x.shape[1:]))
    assert net.stage_shapes == want


@pytest.mark.parametrize("case", ["LeNet", "ResNet18", "DenseNet"])
def test_parameter_count_matches_d2l(case):
    file, build, shape, params = CASES[case]
    ref = nn.Sequential(*build())
    ref(torch.zeros(2, *shape))  # materialise the lazy layers
    net = cnndsl.check(ARCH / file, net=case)
    assert net.count_params() == sum(p.numel() for p in ref.parameters())


def test_alexnet_224_warns_and_227_fits():
    """The book's question: d2l's AlexNet drops pixels at 224; the paper's fits 227 exactly."""
    d2l = cnndsl.check(ARCH / "alexnet.cnn", net="AlexNet")
    first = d2l.warnings[0]
    conv1 = (ARCH / "alexnet.cnn").read_text().splitlines().index("    conv 11x11/4 96 pad=1, relu, maxpool 3x3/2") + 1
    assert first.span.line == conv1 and "conv1" in first.message and "drops the last 2 rows" in first.message
    paper = cnndsl.check(ARCH / "alexnet.cnn", net="AlexNetPaper")
    assert paper.warnings == []
    at_224 = cnndsl.check(ARCH / "alexnet.cnn", net="AlexNetPaper", input="3x224x224")
    assert "227x227" in at_224.warnings[0].message
