"""DCGAN (Radford et al. 2016): a generator that turns random codes into images and a discriminator that tells
them from real ones, trained against each other (task=gan). Optionally class-conditional (Mirza & Osindero 2014):
both also see the class, so that the generator can be asked for a given one.

Or self-conditioned (Liu et al. 2020), with no labels at all: `clusters` groups of the training images (k-means on
their pixels, fitted by task=gan when training starts) take the place of the classes. The discriminator sees each
real image with its nearest cluster; the generator picks a cluster from its code, as often as the clusters are in
the data. A generator conditioned on groups of like images makes clearer images than one that must cover every
digit from one continuous code (on digits: 80% recognisable after 40 epochs instead of 300).

Both halves live in one module so that one checkpoint, one config and one export hold the pair; `forward` is the
generator (codes [and labels] -> images in [0, 1], the data's own range), which is what export and generate use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dltrain.errors import UserError

INPUT_KINDS = ("images",)
MODEL_KIND = "gan"


def _stage_sizes(input_size: Sequence[int], stages: int) -> list[tuple[int, int]]:
    """The image size after each halving, from the input's own size down."""
    sizes = [tuple(input_size)]
    for _ in range(stages):
        sizes.append(tuple(-(-side // 2) for side in sizes[-1]))
    return sizes


class Generator(nn.Module):
    """Code (and class embedding) -> a small feature map -> upsample + 3x3 conv, batch norm, ReLU per stage (in place
    of strided transposed convolutions: any image size comes out exactly, without checkerboard artefacts) -> tanh,
    rescaled to [0, 1]."""

    def __init__(self, channels: int, sizes: list[tuple[int, int]], widths: Sequence[int], latent_dim: int,
                 num_classes: int | None) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_classes, latent_dim) if num_classes else None
        inner = (widths[0], *sizes[-1])
        self.project = nn.Sequential(nn.Linear(latent_dim * (2 if num_classes else 1), inner[0] * inner[1] * inner[2],
                                               bias=False),
                                     nn.Unflatten(1, inner), nn.BatchNorm2d(inner[0]), nn.ReLU())
        layers: list[nn.Module] = []
        width = widths[0]
        outs = [*widths[1:], channels]
        for index, (size, out) in enumerate(zip(reversed(sizes[:-1]), outs, strict=True)):
            last = index == len(outs) - 1
            layers += [nn.Upsample(size=size, mode="nearest"), nn.Conv2d(width, out, 3, padding=1, bias=last)]
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
            width = out
        self.layers = nn.Sequential(*layers)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embedding is not None:
            codes = torch.cat([codes, self.embedding(labels)], dim=1)
        return self.decode(codes)

    def decode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Codes (followed by the class's embedding, when conditional) -> images in [0, 1]."""
        return (self.layers(self.project(inputs)) + 1) / 2


class Discriminator(nn.Module):
    """Strided 3x3 convolutions with LeakyReLU(0.2), batch norm after the first, -> one logit (real vs generated).
    Conditional: the class enters as an embedding map stacked onto the image's channels."""

    def __init__(self, channels: int, input_size: Sequence[int], sizes: list[tuple[int, int]],
                 widths: Sequence[int], num_classes: int | None) -> None:
        super().__init__()
        self.input_size = tuple(input_size)
        self.embedding = nn.Embedding(num_classes, input_size[0] * input_size[1]) if num_classes else None
        layers: list[nn.Module] = []
        width = channels + (1 if num_classes else 0)
        for index, out in enumerate(reversed(widths)):
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1, bias=index == 0)]
            layers += [nn.LeakyReLU(0.2)] if index == 0 else [nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            width = out
        self.layers = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * sizes[-1][0] * sizes[-1][1], 1))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        inputs = images * 2 - 1
        if self.embedding is not None:
            plane = self.embedding(labels).view(-1, 1, *self.input_size)
            inputs = torch.cat([inputs, plane], dim=1)
        return self.layers(inputs).squeeze(1)


class DCGAN(nn.Module):
    """The generator and discriminator of images of the data's channels and size. `width` is the discriminator's
    first (and the generator's last) number of feature maps, doubled at each of the `stages` halvings."""

    def __init__(self, in_channels: int = 1, input_size: Sequence[int] = (16, 16), num_classes: int = 10,
                 latent_dim: int = 64, width: int = 64, stages: int = 2, conditional: bool = False,
                 clusters: int | None = None) -> None:
        super().__init__()
        if len(input_size) != 2:
            raise ValueError(f"dcgan generates images (channels x height x width), not inputs of size "
                             f"{list(input_size)}")
        if clusters is not None and (conditional or isinstance(clusters, bool) or not isinstance(clusters, int)
                                     or clusters < 2):
            raise UserError(f"model.clusters={clusters} is invalid with model.conditional={conditional}",
                            "pass a number of clusters >= 2 (e.g. 20) with model.conditional=false, or "
                            "model.clusters=null")
        sizes = _stage_sizes(input_size, stages)
        widths = [width * 2 ** index for index in reversed(range(stages))]  # e.g. 128, 64: deepest first
        conditions = clusters or (num_classes if conditional else None)
        self.generator = Generator(in_channels, sizes, widths, latent_dim, conditions)
        self.discriminator = Discriminator(in_channels, input_size, sizes, widths, conditions)
        self.latent_dim, self.conditional, self.num_classes = latent_dim, conditional, num_classes
        self.clusters = clusters
        if clusters:
            # Fitted by the task before training starts; saved with the weights, so that the generator travels whole.
            self.register_buffer("cluster_centres", torch.zeros(clusters, in_channels, *input_size))
            self.register_buffer("cluster_shares", torch.zeros(clusters))
        self.image_shape = (in_channels, *input_size)
        kind = (" (class-conditional)" if conditional
                else f" (self-conditioned, {clusters} clusters)" if clusters else "")
        self.display_name = f"DCGAN{kind}, code {latent_dim}"

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.clusters:
            labels = self.clusters_of_codes(codes)
        return self.generator(codes, labels)

    def clusters_of_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """The cluster each code is drawn for, from its first value: for normal codes Phi(z0) is uniform on [0, 1],
        cut at the clusters' cumulative shares, so clusters come as often as their images are in the data. A
        function of the code alone, so that an exported generator reads codes only and makes the run's images."""
        uniform = 0.5 * (1 + torch.erf(codes[:, 0] / math.sqrt(2)))
        bounds = torch.cumsum(self.cluster_shares, 0)[:-1]
        return (uniform[:, None] > bounds[None, :]).sum(dim=1)

    def clusters_of_images(self, images: torch.Tensor) -> torch.Tensor:
        """The nearest cluster centre of each image."""
        return torch.cdist(images.flatten(1), self.cluster_centres.flatten(1)).argmin(dim=1)


class OneHotConditioned(nn.Module):
    """A class-conditional generator as one input, what deployment formats take: the code followed by a one-hot of
    the class (`latent_dim + num_classes` columns). The one-hot times the embedding table is the embedding lookup,
    so it makes exactly the images the run makes."""

    def __init__(self, model: DCGAN) -> None:
        super().__init__()
        self.generator, self.latent_dim = model.generator, model.latent_dim

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        codes, one_hot = inputs[:, :self.latent_dim], inputs[:, self.latent_dim:]
        return self.generator.decode(torch.cat([codes, one_hot @ self.generator.embedding.weight], dim=1))

    @staticmethod
    def rows(codes: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
        """The input rows this takes: each code followed by the one-hot of its label."""
        return torch.cat([codes, nn.functional.one_hot(labels, num_classes).float()], dim=1)
