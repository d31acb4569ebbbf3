"""User-item interactions from a ratings file (MovieLens' u.data and ratings.dat, a CSV of user,item,rating): explicit
ratings to predict, or implicit feedback (every interaction a positive, negatives sampled afresh each epoch)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy
import torch

from dltrain.data.in_memory import EpochOrder, InMemoryDataModule
from dltrain.errors import UserError, suggestion

log = logging.getLogger(__name__)

SPLITS = ("random", "leave_last_out")
DUPLICATES = ("mean", "last", "error")
# The names a header may give each role, tried in order (case-insensitive) when the role's column is not named.
ROLE_NAMES = {"user": ("user", "user_id", "userid", "uid"),
              "item": ("item", "item_id", "itemid", "movie", "movie_id", "movieid", "product_id", "iid"),
              "rating": ("rating", "score", "stars", "value"),
              "timestamp": ("timestamp", "time", "date", "ts")}


class RatingsDataModule(InMemoryDataModule):
    """Each example is a (user index, item index) pair with a float target: the rating (explicit), or 1 for an
    interaction and 0 for a sampled non-interaction (`implicit`). User and item ids of any type are mapped to indices,
    which the checkpoint keeps (with each user's training items and the items' popularity) for predict.

    Splits: `random` by interaction, by the fractions; `leave_last_out`: each user's latest interaction (by timestamp)
    is the test, the one before it val, as He et al. (2017) evaluate NCF. Users with fewer than
    `min_user_interactions` are left out. Duplicate (user, item) pairs are averaged, the last kept, or refused
    (`duplicates`), and said."""

    input_kind = "interactions"
    target_kind = "ratings"

    def __init__(self, path: str, separator: str = "auto", header: bool = True, columns: Sequence[str] | None = None,
                 user_column: str | None = None, item_column: str | None = None, rating_column: str | None = None,
                 timestamp_column: str | None = None, implicit: bool = False, negatives: int = 4,
                 split: str = "random", min_user_interactions: int = 1, duplicates: str = "mean",
                 rating_range: Sequence[float] | None = None, **split_options) -> None:
        super().__init__(**split_options)
        if split not in SPLITS:
            raise UserError(f"data.split={split} is unknown", f"choose one of: {', '.join(SPLITS)}")
        if duplicates not in DUPLICATES:
            raise UserError(f"data.duplicates={duplicates} is unknown", f"choose one of: {', '.join(DUPLICATES)}")
        if isinstance(negatives, bool) or not isinstance(negatives, int) or negatives < 1:
            raise UserError(f"data.negatives={negatives} is invalid", "pass how many negatives per positive, e.g. 4")
        if rating_range is not None and (len(rating_range) != 2 or rating_range[0] >= rating_range[1]):
            raise UserError(f"data.rating_range={list(rating_range)} is invalid", "pass [lowest, highest], e.g. [1,5]")
        self.path = Path(path).expanduser()
        self.separator, self.header, self.columns = separator, header, list(columns) if columns else None
        self.role_columns = {"user": user_column, "item": item_column, "rating": rating_column,
                             "timestamp": timestamp_column}
        self.implicit, self.negatives, self.split = implicit, negatives, split
        self.min_user_interactions, self.duplicates = min_user_interactions, duplicates
        self.rating_range = list(rating_range) if rating_range is not None else None
        self.users: list[str] = []
        self.items: list[str] = []

    # Reading --------------------------------------------------------------------------------------------------------

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        users, items, ratings, times = self._interactions()
        pairs = torch.stack([users, items], dim=1)
        if self.split == "leave_last_out":
            splits = self._leave_last_out(pairs, ratings, times)
        else:
            order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(self.seed))
            test = round(len(pairs) * self.test_fraction)
            val = round(len(pairs) * self.val_fraction)
            if test + val >= len(pairs):
                raise UserError(f"{len(pairs)} interactions leave nothing to train on after val and test",
                                "lower data.val_fraction and data.test_fraction")
            parts = {"test": order[:test], "val": order[test : test + val], "train": order[test + val :]}
            splits = {name: (pairs[index], ratings[index]) for name, index in parts.items()}
        self.class_names = []
        return {name: splits[name] for name in ("train", "val", "test")}

    def _interactions(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        header, rows = self._rows()
        positions = self._positions(header)
        seen: dict[tuple[str, str], int] = {}
        users, items, ratings, times = [], [], [], []
        repeated = 0
        for line, row in rows:
            try:
                user, item = row[positions["user"]].strip(), row[positions["item"]].strip()
                rating = 1.0 if self.implicit or positions["rating"] is None else _number(row[positions["rating"]])
                time = _number(row[positions["timestamp"]]) if positions["timestamp"] is not None else float(line)
            except IndexError:
                raise UserError(f"{self.path} line {line} has {len(row)} fields, fewer than the columns",
                                "check data.separator and data.columns") from None
            except ValueError:
                raise UserError(f"{self.path} line {line}: the rating or timestamp '{','.join(row)}' is not a number",
                                "fix the line, or pass data.implicit=true to use interactions without ratings"
                                ) from None
            if self.rating_range is not None and not self.implicit and not (
                    self.rating_range[0] <= rating <= self.rating_range[1]):
                raise UserError(f"{self.path} line {line}: rating {rating:g} is outside data.rating_range="
                                f"{self.rating_range}", "fix the line, or widen data.rating_range")
            key = (user, item)
            if key in seen:
                repeated += 1
                if self.duplicates == "error":
                    raise UserError(f"{self.path} line {line}: user {user} and item {item} appear again",
                                    "pass data.duplicates=mean (average them) or last (keep the latest)")
                index = seen[key]
                count = ratings[index][1] + 1
                mean = ratings[index][0] + (rating - ratings[index][0]) / count
                ratings[index] = (mean if self.duplicates == "mean" else rating, count)
                times[index] = max(times[index], time)
                continue
            seen[key] = len(users)
            users.append(user)
            items.append(item)
            ratings.append((rating, 1))
            times.append(time)
        if repeated:
            log.info("data: %d repeated (user, item) pair(s) %s (data.duplicates=%s)", repeated,
                     "averaged" if self.duplicates == "mean" else "replaced by their latest", self.duplicates)
        return self._indexed(users, items, [rating for rating, _ in ratings], times)

    def _indexed(self, users: list[str], items: list[str], ratings: list[float], times: list[float]):
        counts: dict[str, int] = {}
        for user in users:
            counts[user] = counts.get(user, 0) + 1
        kept = [index for index, user in enumerate(users) if counts[user] >= self.min_user_interactions]
        if len(kept) < len(users):
            log.info("data: %d user(s) with fewer than %d interactions left out (data.min_user_interactions)",
                     sum(1 for count in counts.values() if count < self.min_user_interactions),
                     self.min_user_interactions)
        self.users = sorted({users[index] for index in kept}, key=_id_order)
        self.items = sorted({items[index] for index in kept}, key=_id_order)
        if len(self.users) < 2 or len(self.items) < 2:
            raise UserError(f"{self.path} has {len(self.users)} user(s) and {len(self.items)} item(s) to learn from",
                            "a recommender needs at least two users and two items")
        user_index = {user: index for index, user in enumerate(self.users)}
        item_index = {item: index for index, item in enumerate(self.items)}
        return (torch.tensor([user_index[users[index]] for index in kept]),
                torch.tensor([item_index[items[index]] for index in kept]),
                torch.tensor([ratings[index] for index in kept], dtype=torch.float32),
                torch.tensor([times[index] for index in kept], dtype=torch.float64))

    def _rows(self) -> tuple[list[str], list[tuple[int, list[str]]]]:
        if not self.path.is_file():
            raise UserError(f"data.path: no such file '{self.path}'", "pass a ratings file, e.g. data.path=u.data")
        text = self.path.read_text(encoding="utf-8-sig", errors="replace")
        lines = text.splitlines()
        separator = self._separator(lines[0] if lines else "")
        if separator == "::":  # csv takes one character: MovieLens' ratings.dat uses two
            text = text.replace("::", "\x1f")
            separator = "\x1f"
        rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=separator), 1)
                if row and any(field.strip() for field in row)]
        if self.header:
            if not rows:
                raise UserError(f"{self.path} is empty", "pass a file of interactions, one per line")
            header = [name.strip() for name in rows[0][1]]
            rows = rows[1:]
        else:
            width = len(rows[0][1]) if rows else 0
            header = self.columns or ["user", "item", "rating", "timestamp"][:width]
        if self.columns and self.header:
            header = self.columns
        return header, rows

    def _separator(self, first_line: str) -> str:
        if self.separator != "auto":
            return {"\\t": "\t", "tab": "\t"}.get(self.separator, self.separator)
        for candidate in ("::", "\t", ",", ";", " "):
            if candidate in first_line:
                return candidate
        return ","

    def _positions(self, header: list[str]) -> dict[str, int | None]:
        lowered = [name.lower() for name in header]
        positions: dict[str, int | None] = {}
        for role, given in self.role_columns.items():
            if given is not None:
                if given not in header:
                    hint = suggestion(given, header)
                    raise UserError(f"{self.path} has no column '{given}' (data.{role}_column)",
                                    f"{hint + ' ' if hint else ''}its columns are: {', '.join(header)}")
                positions[role] = header.index(given)
                continue
            found = [lowered.index(name) for name in ROLE_NAMES[role] if name in lowered]
            positions[role] = found[0] if found else None
        for role in ("user", "item") + (() if self.implicit else ("rating",)):
            if positions[role] is None:
                raise UserError(f"{self.path}: no {role} column among {', '.join(header)}",
                                f"name it with data.{role}_column=..., or give the columns in order with "
                                "data.header=false data.columns=[user,item,rating,timestamp]")
        if self.split == "leave_last_out" and positions["timestamp"] is None:
            log.info("data: no timestamp column: a user's last interaction is the last line of the file")
        return positions

    def _leave_last_out(self, pairs: torch.Tensor, ratings: torch.Tensor, times: torch.Tensor) -> dict:
        """Each user's latest interaction is the test, the one before it val; the rest train. Users need 3."""
        order = torch.from_numpy(numpy.lexsort((times.numpy(), pairs[:, 0].numpy())))
        sorted_users = pairs[order, 0]
        last = torch.ones(len(order), dtype=torch.bool)
        last[:-1] = sorted_users[1:] != sorted_users[:-1]
        before_last = torch.zeros(len(order), dtype=torch.bool)
        before_last[:-1] = last[1:] & (sorted_users[:-1] == sorted_users[1:])
        counts = torch.bincount(pairs[:, 0], minlength=len(self.users))
        if int(counts.min()) < 3:
            raise UserError(f"data.split=leave_last_out needs 3 interactions per user; {int((counts < 3).sum())} "
                            "user(s) have fewer", "pass data.min_user_interactions=3 to leave them out")
        parts = {"test": order[last], "val": order[before_last], "train": order[~(last | before_last)]}
        return {name: (pairs[index], ratings[index]) for name, index in parts.items()}

    # What models, tasks and predict read ----------------------------------------------------------------------------

    @property
    def sizes(self) -> dict:
        self.setup()
        return {"num_users": len(self.users), "num_items": len(self.items)}

    def popularity(self) -> torch.Tensor:
        """How many training interactions each item has: the popularity baseline's scores."""
        return torch.bincount(self.splits["train"][0][:, 1].cpu(), minlength=len(self.items)).float()

    def batches(self, inputs: torch.Tensor, labels: torch.Tensor, shuffle: bool, rank: int,
                world_size: int) -> Iterable:
        if self.implicit and shuffle:
            return NegativeSampledBatches(inputs, labels, self.batch_size, self.seed, self.negatives,
                                          len(self.items), interaction_codes(inputs, len(self.items)), rank,
                                          world_size)
        return super().batches(inputs, labels, shuffle, rank, world_size)

    def state_dict(self) -> dict:
        """Besides the training position: the ids (indices to users and items), each user's training items and the
        items' popularity, so that predict recommends unseen items, and the popular ones to an unknown user."""
        train = self.splits["train"][0].cpu() if self.splits else torch.empty(0, 2, dtype=torch.int64)
        return {**super().state_dict(), "users": list(self.users), "items": list(self.items),
                "train_pairs": train.clone(), "implicit": self.implicit}


class NegativeSampledBatches(EpochOrder):
    """Training batches of implicit feedback: the batch's positives (label 1), then `negatives` items per positive that
    its user did not interact with (label 0), drawn afresh every epoch from the order's own generator (so a resumed
    run draws what an uninterrupted one would)."""

    def __init__(self, pairs: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int, negatives: int,
                 num_items: int, seen_codes: torch.Tensor, rank: int = 0, world_size: int = 1) -> None:
        super().__init__(len(pairs), batch_size, True, seed, rank, world_size)
        self.pairs, self.negatives, self.num_items, self.seen_codes = pairs, negatives, num_items, seen_codes

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        starts = self.starts()
        order = self._order()
        for start in starts:
            positives = self.pairs[order[start : start + self.batch_size]]
            users = positives[:, 0].cpu().repeat_interleave(self.negatives)
            items = draw_negatives(users[:, None], self.num_items, self.seen_codes, self.generator)[:, 0]
            negatives = torch.stack([users, items], dim=1).to(positives.device)
            labels = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))]).to(positives.device)
            yield torch.cat([positives, negatives]), labels


def interaction_codes(pairs: torch.Tensor, num_items: int) -> torch.Tensor:
    """Each (user, item) pair as one int64 code, sorted, for membership tests (see contains)."""
    pairs = pairs.cpu()
    return (pairs[:, 0] * num_items + pairs[:, 1]).unique()


def contains(sorted_codes: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Whether each of `codes` is in `sorted_codes` (ascending): a binary search, where torch.isin would sort the
    hundred thousand seen codes again on every batch."""
    if not len(sorted_codes):
        return torch.zeros_like(codes, dtype=torch.bool)
    position = torch.searchsorted(sorted_codes, codes).clamp(max=len(sorted_codes) - 1)
    return sorted_codes[position] == codes


def draw_negatives(users: torch.Tensor, num_items: int, seen_codes: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor:
    """Random items, in the shape of `users` (one column per draw), that each user never interacted with (its codes
    are not in `seen_codes`): drawn uniformly, and drawn again where they clash."""
    items = torch.randint(num_items, users.shape, generator=generator)
    for _ in range(1000):
        clash = contains(seen_codes, users * num_items + items)
        if not clash.any():
            return items
        items[clash] = torch.randint(num_items, (int(clash.sum()),), generator=generator)
    raise UserError("some users have interacted with nearly every item: there are too few items to draw negatives",
                    "use data.implicit=false (ratings), or more items")


def _number(field: str) -> float:
    return float(field.strip())


def _id_order(value: str) -> tuple[int, float | str]:
    """Numeric ids in numeric order (2 before 10), the others after them, alphabetically."""
    try:
        return 0, float(value)
    except ValueError:
        return 1, value
