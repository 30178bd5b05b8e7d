"""The names other tools give cnndsl's ops, for the hint of an unknown op.

A newcomer writes what PyTorch, Keras or a paper calls a layer (`Conv2d`, `Dense`, `deconv`);
spelling alone does not lead from `Dense` to `fc`. So an unknown op is looked up here by
meaning first (`meaning_hint`), and only then by spelling (`cnndsl.errors.suggest`).

The table may name ops that are not registered (yet): a hint only ever names ops that the
registry holds when it is asked, so an entry starts to work when its op is added.
Names are compared without case and underscores (`conv_transpose2d`, `ConvTranspose2d` and
`convtranspose2d` are one name); a name that, compared that way, is a registered op's
(`LeakyReLU`, `PixelShuffle`, `Dropout`) needs no entry.
"""

from __future__ import annotations

from collections.abc import Iterable

# other tools' names (PyTorch's torch.nn, Keras' layers, common words) -> cnndsl's ops, best first
ALIASES: dict[str, tuple[str, ...]] = {
    # convolutions
    "Conv2d": ("conv",), "Conv2D": ("conv",), "DepthwiseConv2D": ("conv",),
    "ConvTranspose2d": ("conv_transpose",), "Conv2DTranspose": ("conv_transpose",), "deconv": ("conv_transpose",),
    "deconvolution": ("conv_transpose",), "upconv": ("conv_transpose",), "transposed_conv": ("conv_transpose",),
    # fully connected
    "Linear": ("fc", "linear"), "Dense": ("fc",), "fully_connected": ("fc",), "FullyConnected": ("fc",),
    "InnerProduct": ("fc",),
    # normalisation
    "BatchNorm2d": ("bn",), "BatchNorm1d": ("bn",), "batchnorm": ("bn",), "BatchNormalization": ("bn",),
    "GroupNorm": ("groupnorm",), "GroupNormalization": ("groupnorm",), "gn": ("groupnorm",),
    "InstanceNorm2d": ("instancenorm",), "LayerNormalization": ("layernorm",), "ln": ("layernorm",),
    "LocalResponseNorm": ("lrn",), "local_response_norm": ("lrn",),
    # pooling
    "pool": ("maxpool",), "MaxPool2d": ("maxpool",), "MaxPooling2D": ("maxpool",), "max_pooling": ("maxpool",),
    "AvgPool2d": ("avgpool",), "AveragePooling2D": ("avgpool",), "average_pool": ("avgpool",),
    "mean_pool": ("avgpool",),
    "AdaptiveAvgPool2d": ("adaptive_avgpool", "gap"), "GlobalAveragePooling2D": ("gap",),
    "global_avg_pool": ("gap",), "global_pool": ("gap",), "AdaptiveMaxPool2d": ("adaptive_maxpool",),
    # activations
    "ReLU": ("relu",), "swish": ("silu",), "lrelu": ("leaky_relu",), "PReLU": ("prelu",),
    "Activation": ("relu", "sigmoid", "tanh"),
    # merges
    "Concatenate": ("concat",), "cat": ("concat",), "Add": ("add",), "sum": ("add",), "Multiply": ("mul",),
    # shapes and resampling
    "UpSampling2D": ("upsample",), "upsampling": ("upsample",), "interpolate": ("upsample", "resize_like"),
    "resize": ("upsample", "resize_like"), "Resizing": ("resize_like",),
    "PixelShuffle": ("pixel_shuffle",), "depth_to_space": ("pixel_shuffle",),
    "PixelUnshuffle": ("pixel_unshuffle",), "space_to_depth": ("pixel_unshuffle",), "Flatten": ("flatten",),
    "Dropout": ("dropout",), "Identity": ("identity",), "SpatialDropout2D": ("dropout2d",),
    "Reshape": ("reshape",), "view": ("reshape",), "Unflatten": ("reshape",),
    "CenterCrop": ("center_crop",), "crop": ("center_crop",), "Cropping2D": ("center_crop",),
}

# what other tools have and cnndsl has not, with what it is: said so, so that spelling does not lead
# to a look-alike (`Conv3d` is no `conv`, `selu` no `elu`, `rnn` no `lrn`, `attention` no `flatten`)
LACKING: dict[str, str] = {
    **dict.fromkeys(("Conv1d", "Conv1D", "conv1d", "Conv3d", "Conv3D", "conv3d", "ConvTranspose1d",
                     "ConvTranspose3d", "MaxPool1d", "MaxPool3d", "AvgPool1d", "AvgPool3d", "BatchNorm3d"),
                    "a 1-D or 3-D layer, and cnndsl's tensors are CxHxW images"),
    **dict.fromkeys(("selu", "celu", "rrelu", "glu", "softsign", "tanhshrink", "threshold"),
                    "an activation cnndsl lacks; docs/language.md lists those it has, and a plugin can add one "
                    "(docs/plugins.md)"),
    **dict.fromkeys(("rnn", "lstm", "gru", "RNN", "LSTM", "GRU", "embedding", "Embedding"),
                    "a sequence layer, and cnndsl describes convolutional networks"),
    **dict.fromkeys(("attention", "MultiheadAttention", "self_attention", "transformer", "Transformer"),
                    "token attention; gates such as squeeze-and-excitation are written with `mul` "
                    "(docs/language.md), and a plugin can add an op (docs/plugins.md)"),
}


def _key(name: str) -> str:
    """A name as names are compared here: without case and underscores."""
    return name.replace("_", "").lower()


_BY_KEY: dict[str, tuple[str, ...]] = {_key(other): ops for other, ops in ALIASES.items()}
_LACKING_BY_KEY: dict[str, str] = {_key(other): what for other, what in LACKING.items()}


def meaning_hint(name: str, ops: Iterable[str]) -> str | None:
    """`did you mean 'fc'?` for an op `name` another tool uses (`Dense`), naming only the `ops` given
    (the registered ones); None when `name` is no other tool's name. A name of the table whose ops are
    not registered says so, rather than leave a hint by spelling to mislead (`deconv` is no `conv`)."""
    registered = set(ops)
    by_key = {_key(op): op for op in registered}
    meant = _BY_KEY.get(_key(name), ())
    found = [op for op in meant if op in registered]
    if not found and _key(name) in by_key:
        found = [by_key[_key(name)]]
    if not found and _key(name) in _LACKING_BY_KEY:
        return f"cnndsl has no op for what other tools call `{name}`: {_LACKING_BY_KEY[_key(name)]}"
    if not found:
        return f"cnndsl has no op for what other tools call `{name}`" if meant else None
    said = " or ".join(f"'{op}'" for op in found)
    return f"did you mean {said}? (what cnndsl calls `{name}`)"
