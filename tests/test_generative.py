"""The ops of generators and U-Net (conv_transpose, pixel_shuffle, pixel_unshuffle, reshape,
center_crop) against torch: shapes, parameters, MACs as fvcore and torch's flop counter count them,
values, located errors and the import rules; and the zoo's U-Net and DCGAN against reference
modules written here (the paper's U-Net, the PyTorch DCGAN tutorial's networks)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision.transforms.functional as tvf
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.transforms import CenterCrop

import cnndsl
from cnndsl.ops import REGISTRY
from tests.conftest import ARCH, check_body, error_of, where, wrap


def one_layer(body: str, shape: tuple) -> tuple[cnndsl.Network, torch.nn.Module]:
    net = check_body(body, "x".join(map(str, shape)))
    return net, cnndsl.compile(net).eval()


# ---- conv_transpose ---------------------------------------------------------------------

TRANSPOSED = [  # (kernel, stride, pad, output_pad, dilation, groups), each a case torch takes
    (k, s, p, e, d, g) for k, s, p, e, d, g in itertools.product((1, 2, 3, 4), (1, 2, 3), (0, 1), (0, 1, 2), (1, 2),
                                                                  (1, 2))
    if e < max(s, d)]


@pytest.mark.parametrize("k,s,p,e,d,g", TRANSPOSED[::7])
def test_conv_transpose_shape_params_and_values_are_torchs(k, s, p, e, d, g):
    shape = (4, 5, 6)
    text = f"conv_transpose {k}x{k}/{s} 6 pad={p} output_pad={e} dilation={d} groups={g}"
    want = nn.ConvTranspose2d(4, 6, k, s, p, e, g, True, d).eval()
    x = torch.randn(2, *shape)
    try:
        expected = want(x)
    except RuntimeError:  # no output: cnndsl refuses it too, at the layer
        assert where(error_of(wrap(f"    {text}", "4x5x6"))) == (4, 5)
        return
    net, model = one_layer(text, shape)
    assert net.output_shapes == [tuple(expected.shape[1:])]
    assert net.count_params() == sum(p.numel() for p in want.parameters())
    cnndsl.transfer_weights(want, model)
    torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("text,shape", [("conv_transpose 4x4/2 6 pad=1", (8, 4, 4)),
                                        ("conv_transpose 3x3/2 4 pad=1 output_pad=1 groups=2 bias=false", (4, 5, 7)),
                                        ("conv_transpose 4x4 512 bias=false", (100, 1, 1))])
def test_conv_transpose_macs_are_fvcores_and_half_torchs_flops(text, shape):
    fvcore = pytest.importorskip("fvcore.nn")
    net, model = one_layer(text, shape)
    (layer,) = [layer for layer in net.layers() if layer.op == "conv_transpose"]
    macs = REGISTRY[layer.op].count_macs(layer.attrs, list(layer.input_shapes), layer.shapes)
    x = torch.randn(1, *shape)
    counter = fvcore.FlopCountAnalysis(model, x)
    counter.unsupported_ops_warnings(False)
    assert macs == counter.total()  # fvcore counts one "flop" per multiply-accumulate
    with FlopCounterMode(display=False) as flops:
        model(x)
    assert 2 * macs == flops.get_total_flops()


def test_an_output_pad_torch_refuses_is_a_located_error():
    with pytest.raises(RuntimeError):  # torch: output padding must be smaller than either stride or dilation
        nn.ConvTranspose2d(4, 4, 3, 2, output_padding=2)(torch.randn(1, 4, 5, 5))
    exc = error_of(wrap("    conv 1x1 4\n    conv_transpose 3x3/2 4 output_pad=2", "4x5x5"))
    assert where(exc) == (5, 5)
    assert "output_pad=2x2 must be smaller than the stride (2x2) or the dilation (1x1)" in exc.message
    # under the dilation it is taken, as torch takes it
    taken = nn.ConvTranspose2d(4, 4, 3, 2, output_padding=2, dilation=3)(torch.randn(1, 4, 5, 5))
    assert check_body("conv_transpose 3x3/2 4 output_pad=2 dilation=3", "4x5x5").output_shapes == [taken.shape[1:]]


# ---- pixel shuffles -----------------------------------------------------------------------


def test_pixel_shuffles_are_torchs_and_invert_each_other():
    x = torch.randn(2, 12, 4, 6)
    net, model = one_layer("pixel_shuffle 2, pixel_unshuffle 2", (12, 4, 6))
    torch.testing.assert_close(model(x), x)
    net, model = one_layer("pixel_unshuffle 2", (12, 4, 6))
    torch.testing.assert_close(model(x), nn.PixelUnshuffle(2)(x))
    assert net.output_shapes == [(48, 2, 3)]


@pytest.mark.parametrize("body,shape,message", [
    ("pixel_shuffle 2", "6x4x4", "pixel_shuffle 2 needs channels divisible by 4 (2x2; got 6)"),
    ("pixel_unshuffle 2", "4x4x5", "pixel_unshuffle 2 needs a height and width divisible by 2 (got 4x5)"),
])
def test_pixel_shuffle_divisibility_errors_are_located(body, shape, message):
    exc = error_of(wrap(f"    relu\n    {body}", shape))
    assert where(exc) == (5, 5) and message in exc.message


# ---- reshape ------------------------------------------------------------------------------


def test_reshape_keeps_the_batch_and_the_order_of_elements():
    x = torch.randn(3, 96)
    net, model = one_layer("reshape 6x4x4", (96,))
    torch.testing.assert_close(model(x), x.view(3, 6, 4, 4))
    net, model = one_layer("reshape 24", (6, 2, 2))
    y = torch.randn(3, 6, 2, 2)
    torch.testing.assert_close(model(y), y.reshape(3, 24))


def test_reshape_names_both_element_counts():
    exc = error_of(wrap("    fc 100\n    reshape 512x4x4", "10"))
    assert where(exc) == (5, 5)
    assert "reshape 512x4x4 needs 8,192 elements per sample; its input, 100, has 100" in exc.message
    assert "a shape of one to three positive integers" in error_of(wrap("    reshape 0x4", "10")).message


# ---- crop ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size,shape", [((3, 3), (2, 7, 7)), ((2, 5), (3, 5, 8)), ((4, 4), (1, 9, 9)),
                                        ((2, 2), (1, 7, 5)), ((5, 8), (1, 5, 8)), ((392, 392), (1, 568, 568)),
                                        ((8, 3), (2, 5, 6)), ((6, 9), (1, 3, 4)), ((4, 2), (1, 4, 7))])
def test_crop_is_torchvisions_center_crop(size, shape):
    """Smaller sizes cut the centre, larger ones pad it with zeros, as torchvision does, both rounded alike."""
    x = torch.randn(2, *shape)
    net, model = one_layer(f"center_crop {size[0]}x{size[1]}", shape)
    torch.testing.assert_close(model(x), tvf.center_crop(x, list(size)))
    assert net.output_shapes == [(shape[0], *size)]


def test_crop_on_a_flat_input_is_a_located_error():
    exc = error_of(wrap("    relu\n    center_crop 6x3", "10"))
    assert where(exc) == (5, 5) and "center_crop expects a CxHxW input (got 10)" in exc.message


# ---- import rules -------------------------------------------------------------------------


class Generated(nn.Module):
    """Every layer the new import rules map, in one traceable model."""

    def __init__(self) -> None:
        super().__init__()
        self.project = nn.Linear(10, 64)
        self.unflatten = nn.Unflatten(1, (4, 4, 4))
        self.up = nn.ConvTranspose2d(4, 8, 3, 2, 1, 1, bias=False)
        self.shuffle = nn.PixelShuffle(2)
        self.unshuffle = nn.PixelUnshuffle(4)
        self.crop = CenterCrop(3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.crop(self.unshuffle(self.shuffle(self.up(self.unflatten(self.project(z))))))


def test_torch_layers_import_as_the_new_ops():
    torch.manual_seed(0)
    text = cnndsl.import_module(Generated().eval(), torch.randn(2, 10))  # verifies the round trip itself
    for line in ("reshape (4, 4, 4)", "conv_transpose 3x3/2 8 pad=1 output_pad=1 bias=false", "pixel_shuffle 2",
                 "pixel_unshuffle 4", "center_crop 3\n"):
        assert line in text, text


# ---- the zoo: U-Net and DCGAN against reference modules -------------------------------------


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.Conv2d(cout, cout, 3), nn.ReLU())


class UNetPaper(nn.Module):
    """Ronneberger et al. 2015, figure 1, written the usual way: the skip cropped with torchvision."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        widths = (64, 128, 256, 512, 1024)
        self.down = nn.ModuleList(double_conv(cin, cout) for cin, cout in zip((1, *widths), widths, strict=False))
        self.up, self.decode = nn.ModuleList(), nn.ModuleList()
        for wide, narrow in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.up.append(nn.ConvTranspose2d(wide, narrow, 2, 2))
            self.decode.append(double_conv(wide, narrow))
        self.head = nn.Conv2d(64, classes, 1)

    def parameters_in_order(self) -> list[torch.Tensor]:
        """The parameters in the order the .cnn network writes its layers."""
        order = [*self.down, *(m for pair in zip(self.up, self.decode, strict=True) for m in pair), self.head]
        return [p for m in order for p in m.parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(nn.functional.max_pool2d(x, 2) if i else x)
            skips.append(x)
        for up, decode, skip in zip(self.up, self.decode, skips[-2::-1], strict=True):
            x = up(x)
            x = decode(torch.cat([tvf.center_crop(skip, list(x.shape[2:])), x], 1))
        return self.head(x)


def test_unet_is_the_papers():
    torch.manual_seed(0)
    ref = UNetPaper().eval()
    paper = cnndsl.check(ARCH / "unet.cnn", net="UNet")
    assert paper.input_shape == (1, 572, 572) and paper.output_shapes == [(2, 388, 388)]
    assert paper.count_params() == sum(p.numel() for p in ref.parameters())
    # the smallest tile every pooled map of which is even and every convolution has room (fast on CPU)
    net = cnndsl.check(ARCH / "unet.cnn", net="UNet", size=188)
    model = cnndsl.compile(net).eval()
    mine = list(model.parameters())
    assert [p.shape for p in mine] == [p.shape for p in ref.parameters_in_order()]
    with torch.no_grad():
        for dst, src in zip(mine, ref.parameters_in_order(), strict=True):
            dst.copy_(src)
        x = torch.randn(1, 1, 188, 188)
        want = ref(x)
        assert net.output_shapes == [tuple(want.shape[1:])]
        torch.testing.assert_close(model(x), want, rtol=1e-4, atol=1e-5)


# the PyTorch DCGAN tutorial's networks (nz=100, ngf=ndf=64, nc=3), as it writes them
def tutorial_generator(nz: int = 100, ngf: int = 64, nc: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def tutorial_discriminator(ndf: int = 64, nc: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def randomised(model: nn.Module) -> nn.Module:
    """Batch-norm statistics that are not the identity, so that eval mode tests them too."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return model.eval()


@pytest.mark.parametrize("name,reference,shape", [
    ("DCGANGenerator", tutorial_generator, (100, 1, 1)), ("DCGANDiscriminator", tutorial_discriminator, (3, 64, 64))])
def test_dcgan_is_the_tutorials(name, reference, shape):
    torch.manual_seed(0)
    ref = randomised(reference())
    net = cnndsl.check(ARCH / "dcgan.cnn", net=name)
    model = cnndsl.compile(net).eval()
    assert net.input_shape == shape
    assert net.count_params() == sum(p.numel() for p in ref.parameters())
    cnndsl.transfer_weights(ref, model)  # by position, every shape checked
    x = torch.randn(3, *shape)
    with torch.no_grad():
        want = ref(x)
        torch.testing.assert_close(model(x), want)
    assert net.output_shapes == [tuple(want.shape[1:])] == [(3, 64, 64) if "Generator" in name else (1, 1, 1)]


def test_the_projected_generator_is_the_tutorials_with_its_first_layer_as_fc_and_reshape():
    """fc + reshape on a flat z computes the 4x4 transposed convolution on z as 100x1x1."""
    torch.manual_seed(0)
    ref = randomised(tutorial_generator())
    net = cnndsl.check(ARCH / "dcgan.cnn", net="DCGANGeneratorProjected")
    assert net.input_shape == (100,) and net.count_params() == sum(p.numel() for p in ref.parameters())
    model = cnndsl.compile(net).eval()
    state = {k: v.clone() for k, v in ref.state_dict().items()}
    state["0.weight"] = state["0.weight"].reshape(100, -1).t()  # (nz, 512, 4, 4) -> Linear's (8192, nz)
    cnndsl.transfer_weights(state, model)
    z = torch.randn(3, 100)
    with torch.no_grad():
        torch.testing.assert_close(model(z), ref(z.view(3, 100, 1, 1)))
