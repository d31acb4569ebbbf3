"""Channels-last memory layout for convolution networks.

Convolutions run fastest with an image's channels stored innermost (NHWC): GPU tensor cores (bf16, fp16) need it,
and oneDNN's CPU kernels gain too (measured here on 2 cores, a training step in channels-last against the default
layout: LeNet-5 0.84x, ResNet-20 0.79x, GoogLeNet 0.62x, U-Net 0.90x, VGG 1.03x). Converting the weights is
enough: a convolution whose weight is channels-last returns channels-last activations, so the layout carries
through the network and no batch needs converting. The values are the same in either layout, checkpoints hold
plain tensors, and eval, export and predict build their models in the default layout and load them as before.

`auto` converts dltrain's own networks only (tests/test_memory_layout.py checks each family): a model of your own
may flatten a feature map with `.view()`, which a channels-last tensor refuses.
"""

from __future__ import annotations

from torch import nn

from dltrain.errors import UserError

_IMAGE_CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)
_OWN_MODELS = "dltrain.models."


def wants_channels_last(setting: str | bool, module: nn.Module, model_target: str | None) -> bool:
    """`auto`: for dltrain's model families (`model_target`) with 2-D convolutions; `true`/`false` as said
    (config_check has refused other values)."""
    if setting == "auto":
        return str(model_target).startswith(_OWN_MODELS) and any(
            isinstance(layer, _IMAGE_CONVOLUTIONS) for layer in module.modules())
    return setting


def apply_layout(setting: str | bool, module: nn.Module, model_target: str | None) -> bool:
    """Puts `module` in the layout `setting` asks for (in place: the 4-D weights, convolution kernels, become
    channels-last; other tensors are untouched); whether it is channels-last."""
    import torch

    channels_last = wants_channels_last(setting, module, model_target)
    if channels_last:
        module.to(memory_format=torch.channels_last)
    return channels_last


def view_refused(error: BaseException) -> UserError | None:
    """What a model's `.view()` of a channels-last feature map raises deep in its forward, as one line with the fix;
    None for any other error."""
    if isinstance(error, RuntimeError) and "view size is not compatible with input tensor's size and stride" in str(
            error):
        return UserError("the model flattens a feature map with .view(), which channels-last tensors refuse "
                         "(trainer.channels_last=true)", "use .reshape() there, or pass trainer.channels_last=false")
    return None
