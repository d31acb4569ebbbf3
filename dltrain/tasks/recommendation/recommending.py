"""What dltrain predict writes for a recommender: the top-k items for each user asked about, from a run or from an
exported model (no Lightning here). A user the model never saw gets the most popular items, said in the `note`
column, never an error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from dltrain.errors import UserError

HEADER = ["user", "rank", "item", "score", "note"]


def read_users(source: Path) -> list[str]:
    """User ids, one per line (a first line `user` is a header)."""
    if not source.is_file():
        raise UserError(f"input: no such file '{source}'", "pass a text file of user ids, one per line")
    users = [line.strip() for line in source.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if users and users[0].lower() in ("user", "user_id", "userid"):
        users = users[1:]
    if not users:
        raise UserError(f"found no user ids in {source}", "write one user id per line")
    return users


def recommend(forward: Callable, state: dict, users: list[str], top_k: int, exclude_seen: bool) -> list[list[str]]:
    """Rows of HEADER: each user's top_k items by the model's score, leaving out the items it trained on unless
    `exclude_seen` is false; the training data's most popular items for an unknown user."""
    known_users = {user: index for index, user in enumerate(state["users"])}
    items = list(state["items"])
    pairs = torch.as_tensor(state["train_pairs"], dtype=torch.int64).reshape(-1, 2)
    popularity = torch.bincount(pairs[:, 1], minlength=len(items)).float()
    every_item = torch.arange(len(items))
    rows = []
    for user in users:
        index = known_users.get(user)
        if index is None:
            scores, note = popularity.clone(), "unknown user: the most popular items"
        else:
            with torch.no_grad():
                scores = torch.as_tensor(forward(torch.stack([torch.full_like(every_item, index), every_item], 1)))
            scores, note = scores.float().flatten().clone(), ""
            if exclude_seen:
                scores[pairs[pairs[:, 0] == index, 1]] = float("-inf")
        count = min(top_k, int(torch.isfinite(scores).sum()))
        best = scores.topk(count)
        for rank, (score, item) in enumerate(zip(best.values.tolist(), best.indices.tolist(), strict=True), start=1):
            rows.append([user, str(rank), items[item], f"{score:.6g}", note])
    return rows
