"""Collaborative filtering: a (user, item) pair in, one score out. Biased matrix factorization (Koren, Bell and
Volinsky, 2009) and the neural family of He et al. (2017): GMF (an element-wise product of embeddings, weighted),
an MLP over concatenated embeddings, and NeuMF, both side by side. For explicit feedback the score is the predicted
rating; for implicit feedback a logit of "the user would interact"."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltrain.models.activations import make_activation

INPUT_KINDS = ("interactions",)
# What it gives back: one score per (user, item) pair; see the tasks' model_kinds.
MODEL_KIND = "recommender"


def _embedding(count: int, size: int, std: float = 0.01) -> nn.Embedding:
    table = nn.Embedding(count, size)
    nn.init.normal_(table.weight, std=std)
    return table


class MatrixFactorization(nn.Module):
    """score = global bias + user bias + item bias + <user vector, item vector>."""

    display_name = "matrix factorization"

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 32, biased: bool = True) -> None:
        super().__init__()
        self.users, self.items = _embedding(num_users, embedding_dim, 0.1), _embedding(num_items, embedding_dim, 0.1)
        self.biased = biased
        if biased:
            self.user_bias, self.item_bias = _embedding(num_users, 1, 0.0), _embedding(num_items, 1, 0.0)
            self.global_bias = nn.Parameter(torch.zeros(1))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        users, items = pairs[:, 0], pairs[:, 1]
        score = (self.users(users) * self.items(items)).sum(dim=1)
        if self.biased:
            score = score + self.user_bias(users).squeeze(1) + self.item_bias(items).squeeze(1) + self.global_bias
        return score


class GMF(nn.Module):
    """Generalized matrix factorization: a learned weighting of the element-wise product of the embeddings."""

    display_name = "GMF"

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 32) -> None:
        super().__init__()
        self.users, self.items = _embedding(num_users, embedding_dim), _embedding(num_items, embedding_dim)
        self.output = nn.Linear(embedding_dim, 1)

    def features(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.users(pairs[:, 0]) * self.items(pairs[:, 1])

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(pairs)).squeeze(1)


class NCFMLP(nn.Module):
    """An MLP over the concatenated user and item embeddings (the tower halves its width layer by layer in the
    paper: hidden_sizes [64, 32, 16])."""

    display_name = "NCF MLP"

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 32,
                 hidden_sizes: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        self.users, self.items = _embedding(num_users, embedding_dim), _embedding(num_items, embedding_dim)
        layers: list[nn.Module] = []
        width = 2 * embedding_dim
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), make_activation(activation), *([nn.Dropout(dropout)] if dropout else [])]
            width = size
        self.tower = nn.Sequential(*layers)
        self.width = width
        self.output = nn.Linear(width, 1)

    def features(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.tower(torch.cat([self.users(pairs[:, 0]), self.items(pairs[:, 1])], dim=1))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(pairs)).squeeze(1)


class NeuMF(nn.Module):
    """GMF and the MLP side by side, with embeddings of their own, their last layers joined into one output."""

    display_name = "NeuMF"

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 32,
                 hidden_sizes: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        self.gmf = GMF(num_users, num_items, embedding_dim)
        self.mlp = NCFMLP(num_users, num_items, embedding_dim, hidden_sizes, activation, dropout)
        self.output = nn.Linear(embedding_dim + self.mlp.width, 1)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.output(torch.cat([self.gmf.features(pairs), self.mlp.features(pairs)], dim=1)).squeeze(1)


class AutoRec(nn.Module):
    """I-AutoRec (Sedhain et al. 2015): each item's column of training ratings (one value per user, 0 where unrated)
    through a one-hidden-layer autoencoder; the rebuilt column holds the predicted ratings of every user. The training
    ratings are a buffer filled once from the data (`observe`), kept in the checkpoint with the weights."""

    display_name = "AutoRec"

    def __init__(self, num_users: int, num_items: int, hidden_size: int = 500, activation: str = "sigmoid",
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("ratings", torch.zeros(num_items, num_users))
        self.encoder = nn.Sequential(nn.Linear(num_users, hidden_size), make_activation(activation),
                                     *([nn.Dropout(dropout)] if dropout else []))
        self.decoder = nn.Linear(hidden_size, num_users)

    def observe(self, pairs: torch.Tensor, ratings: torch.Tensor) -> None:
        """The training ratings, (user, item) pairs and their values, as the item columns the model reads."""
        self.ratings.zero_()
        self.ratings[pairs[:, 1], pairs[:, 0]] = ratings.to(self.ratings.dtype)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        rebuilt = self.decoder(self.encoder(self.ratings[pairs[:, 1]]))
        return rebuilt.gather(1, pairs[:, :1]).squeeze(1)
