"""The `init` statement `cnndsl import` writes for the torchvision models whose initialisation it
recognises: each family's constructor initialises its layers by a rule per layer type
(`torchvision/models/<family>.py`, the loop over `self.modules()` at the end of `__init__`),
which is an `init` statement of the language (docs/language.md, "Initialisation").

Families left out keep PyTorch's default in the imported text: AlexNet and ShuffleNetV2 (their
constructors initialise nothing), and those whose rule is not one per layer type: EfficientNet
(a linear layer's range depends on its width), RegNet (a grouped convolution's fan-out is
divided by its groups), SqueezeNet (its last convolution differs from the others).
"""

from __future__ import annotations

from typing import Any

KAIMING_FAN_OUT_RELU = "kaiming_normal(mode=fan_out, nonlinearity=relu)"
MOBILE = "init conv=(kaiming_normal(mode=fan_out), zeros), bn=(ones, zeros), fc=(normal(0, 0.01), zeros)"

# the model's class (module.qualname) -> the statement that initialises as its constructor does
TORCHVISION: dict[str, str] = {
    "torchvision.models.resnet.ResNet": f"init conv={KAIMING_FAN_OUT_RELU}, bn=(ones, zeros)",
    "torchvision.models.vgg.VGG": f"init conv=({KAIMING_FAN_OUT_RELU}, zeros), bn=(ones, zeros), "
                                  "fc=(normal(0, 0.01), zeros)",
    "torchvision.models.densenet.DenseNet": "init conv=kaiming_normal, bn=(ones, zeros), fc=(default, zeros)",
    "torchvision.models.googlenet.GoogLeNet": "init conv=trunc_normal(0.01), fc=trunc_normal(0.01), bn=(ones, zeros)",
    # the auxiliary heads' own deviations (0.01, 0.001) are not imported: they run only in training
    "torchvision.models.inception.Inception3": "init conv=trunc_normal(0.1), fc=trunc_normal(0.1), bn=(ones, zeros)",
    "torchvision.models.mobilenetv2.MobileNetV2": MOBILE,
    "torchvision.models.mobilenetv3.MobileNetV3": MOBILE,
    "torchvision.models.mnasnet.MNASNet": f"init conv=({KAIMING_FAN_OUT_RELU}, zeros), bn=(ones, zeros), "
                                          "fc=(kaiming_uniform(mode=fan_out, nonlinearity=sigmoid), zeros)",
    "torchvision.models.convnext.ConvNeXt": "init conv=(trunc_normal(0.02), zeros), fc=(trunc_normal(0.02), zeros)",
}


def init_statement(module: Any) -> str | None:
    """The `init` statement for `module`'s class where it is a torchvision family listed above, else None."""
    cls = type(module)
    return TORCHVISION.get(f"{cls.__module__}.{cls.__qualname__}")
