"""Recurrent models: every cell and pooling, padding that changes nothing, images read row by row."""

from __future__ import annotations

import pytest
import torch

from dltrain.models.recurrent import RecurrentNet


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_the_output(cell: str, pooling: str, bidirectional: bool):
    torch.manual_seed(0)
    model = RecurrentNet(3, input_size=[20], vocab_size=30, cell=cell, hidden_size=16, num_layers=2,
                         bidirectional=bidirectional, pooling=pooling, embedding_dim=8).eval()
    texts = torch.tensor([[5, 6, 7, 0, 0], [9, 3, 4, 2, 8]])
    longer = torch.cat([texts, torch.zeros(2, 6, dtype=torch.int64)], dim=1)
    alone = model(texts[:1, :3])
    assert model(texts).shape == (2, 3)
    torch.testing.assert_close(model(texts)[0], alone[0])
    torch.testing.assert_close(model(longer), model(texts))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_same_results_as_packed_sequences(cell: str):
    """The reference: PyTorch's packed sequences through a two-layer bidirectional module with the same weights."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    model = RecurrentNet(3, input_size=[9], vocab_size=20, cell=cell, hidden_size=6, num_layers=2,
                         bidirectional=True, pooling="none", embedding_dim=5).eval()
    fused = getattr(torch.nn, cell.upper())(5, 6, num_layers=2, bidirectional=True, batch_first=True)
    for depth, layer in enumerate(model.layers):
        for direction, suffix in (("forwards", ""), ("backwards", "_reverse")):
            for name, weight in layer[direction].named_parameters():
                getattr(fused, f"{name[:-1]}{depth}{suffix}").data.copy_(weight)
    tokens = torch.tensor([[3, 4, 5, 6, 0, 0, 0, 0, 0], [7, 8, 9, 1, 2, 3, 4, 5, 6], [2, 0, 0, 0, 0, 0, 0, 0, 0]])
    lengths = (tokens != 0).sum(dim=1)
    packed = pack_padded_sequence(model.front(tokens), lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(fused(packed)[0], batch_first=True, total_length=9)
    real = (torch.arange(9)[None, :] < lengths[:, None]).unsqueeze(-1)
    torch.testing.assert_close(model(tokens) * real, model.head(expected) * real)


def test_per_step_outputs_for_ctc():
    model = RecurrentNet(12, in_channels=1, input_size=[50, 40], pooling="none", bidirectional=True, hidden_size=8)
    assert model(torch.randn(4, 1, 50, 40)).shape == (4, 50, 12)
    assert model(torch.randn(4, 50, 40)).shape == (4, 50, 12)


def test_images_are_read_row_by_row():
    """An image (N x C x H x W) is H steps of C*W features: the same as feeding the rows as a sequence."""
    torch.manual_seed(0)
    model = RecurrentNet(10, in_channels=3, input_size=[8, 6], embedding_dim=None, hidden_size=16).eval()
    images = torch.randn(2, 3, 8, 6)
    rows = images.permute(0, 2, 1, 3).reshape(2, 8, 18)
    torch.testing.assert_close(model(images), model(rows))
    assert model.layers[0]["forwards"].input_size == 18


def test_options_are_checked():
    for bad, message in (({"cell": "transformer"}, "transformer"), ({"pooling": "sum"}, "sum"),
                         ({"nonlinearity": "relu", "cell": "lstm"}, "model=rnn only"),
                         ({"nonlinearity": "gelu", "cell": "rnn"}, "gelu")):
        with pytest.raises(ValueError, match=message):
            RecurrentNet(2, **bad)
    with pytest.raises(ValueError, match="reads sequences"):
        RecurrentNet(2, input_size=[3, 8, 8])
    relu = RecurrentNet(2, cell="rnn", nonlinearity="relu")
    assert relu.layers[0]["forwards"].nonlinearity == "relu"
