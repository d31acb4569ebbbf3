"""Text to token ids: a tokenizer and a vocabulary built from training text only, saved with the run."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import torch

PAD, UNK = "<pad>", "<unk>"
TOKENIZERS = ("word", "char")
_WORDS = re.compile(r"\w+|[^\w\s]")


class Vocabulary:
    """Maps tokens to ids: 0 is `<pad>` (what models skip), 1 is `<unk>` (tokens not seen in training).

    Built from the train split alone, so validation and test words the model never trained on count as
    unknown, as they will for new text at prediction time. The token list is all there is to save: eval and
    predict rebuild the same ids from it.
    """

    def __init__(self, tokens: list[str], tokenizer: str = "word", lowercase: bool = True) -> None:
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer '{tokenizer}'; choose one of: {', '.join(TOKENIZERS)}")
        self.tokens = list(tokens)
        self.tokenizer, self.lowercase = tokenizer, lowercase
        self.ids = {token: index for index, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], tokenizer: str = "word", lowercase: bool = True, min_freq: int = 1,
              max_size: int | None = None) -> Vocabulary:
        """The tokens seen at least `min_freq` times, most frequent first (ties alphabetically), at most
        `max_size` entries counting `<pad>` and `<unk>`."""
        empty = cls([PAD, UNK], tokenizer, lowercase)
        counts = Counter(token for text in texts for token in empty.split(text))
        ranked = sorted((token for token, count in counts.items() if count >= min_freq),
                        key=lambda token: (-counts[token], token))
        if max_size is not None:
            ranked = ranked[: max(max_size - 2, 0)]
        return cls([PAD, UNK, *ranked], tokenizer, lowercase)

    def __len__(self) -> int:
        return len(self.tokens)

    def split(self, text: str) -> list[str]:
        """Words and punctuation marks (`word`), or characters including spaces (`char`)."""
        if self.lowercase:
            text = text.lower()
        return _WORDS.findall(text) if self.tokenizer == "word" else list(text)

    def encode(self, texts: list[str], max_length: int) -> torch.Tensor:
        """Token ids, N x L (L = the longest text, at most `max_length`), right-padded with 0."""
        unknown = self.ids[UNK]
        encoded = [[self.ids.get(token, unknown) for token in self.split(text)[:max_length]] for text in texts]
        width = max((len(ids) for ids in encoded), default=1)
        ids = torch.zeros(len(encoded), max(width, 1), dtype=torch.int64)
        for row, values in enumerate(encoded):
            ids[row, : len(values)] = torch.tensor(values, dtype=torch.int64)
        return ids

    def state(self) -> dict:
        return {"tokens": self.tokens, "tokenizer": self.tokenizer, "lowercase": self.lowercase}
