"""The cheap per-batch bookkeeping that replaced Lightning's per-step logging: it must give the same figures."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from dltrain.loggers import ResumableMetricsWriter
from dltrain.tasks.batch_means import FOLD, BatchMeans
from dltrain.tasks.classification import ConfusionCounts, accuracy_and_f1


def test_batch_means_weight_each_batch_by_its_size():
    means = BatchMeans()
    means.add({"loss": torch.tensor(1.0), "l2": torch.tensor(0.5)}, 3)
    means.add({"loss": torch.tensor(3.0)}, 1)
    figures = means.means()
    assert figures["loss"].item() == pytest.approx(1.5) and figures["l2"].item() == pytest.approx(0.5)


def test_batch_means_over_a_long_loop_keep_few_tensors():
    means, generator = BatchMeans(), torch.Generator().manual_seed(0)
    values = torch.rand(2 * FOLD + 7, generator=generator)
    sizes = torch.randint(1, 65, (len(values),), generator=generator)
    for value, size in zip(values, sizes, strict=True):
        means.add({"loss": value}, int(size))
        assert len(means.kept.get("loss", [])) < FOLD
    expected = (values.double() * sizes).sum() / sizes.sum()
    assert means.means()["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_confusion_counts_over_a_long_loop_match_one_count():
    counts, generator = ConfusionCounts(3), torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (FOLD + 5, 8), generator=generator)
    predictions = torch.randint(0, 3, (FOLD + 5, 8), generator=generator)
    for batch_labels, batch_predictions in zip(labels, predictions, strict=True):
        counts.add(batch_labels, batch_predictions)
    expected = torch.bincount(labels.flatten() * 3 + predictions.flatten(), minlength=9).view(3, 3)
    assert torch.equal(counts.pop(), expected) and counts.pop() is None


@pytest.mark.parametrize("classes, absent", [(4, None), (5, 4)])
def test_accuracy_and_f1_from_counts_match_torchmetrics(classes: int, absent: int | None):
    """Counted over batches as training counts them, including a class that never occurs nor is predicted."""
    generator = torch.Generator().manual_seed(0)
    accuracy, f1 = MulticlassAccuracy(classes, average="micro"), MulticlassF1Score(classes, average="macro")
    counts = torch.zeros(classes * classes, dtype=torch.int64)
    for _ in range(5):
        labels = torch.randint(0, classes - (absent is not None), (32,), generator=generator)
        logits = torch.randn(32, classes, generator=generator)
        if absent is not None:
            logits[:, absent] = -10
        logits[torch.arange(32)[:20], labels[:20]] += 2
        accuracy.update(logits, labels)
        f1.update(logits, labels)
        counts += torch.bincount(labels * classes + logits.argmax(dim=1), minlength=classes**2)
    figures = accuracy_and_f1(counts.view(classes, classes))
    assert figures["acc"].item() == pytest.approx(accuracy.compute().item(), abs=1e-6)
    assert figures["f1"].item() == pytest.approx(f1.compute().item(), abs=1e-6)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_metrics_log_appends_rows_and_rewrites_when_a_column_appears(tmp_path: Path):
    writer = ResumableMetricsWriter(str(tmp_path))
    writer.log_metrics({"train/loss_step": 2.0}, step=9)
    writer.save()
    writer.log_metrics({"train/loss_step": 1.5}, step=19)
    writer.save()
    assert [row["train/loss_step"] for row in rows(writer.metrics_file_path)] == ["2.0", "1.5"]
    writer.log_metrics({"val/loss": 1.2}, step=19)
    writer.save()
    written = rows(writer.metrics_file_path)
    assert list(written[0]) == ["step", "train/loss_step", "val/loss"] and written[2]["val/loss"] == "1.2"
    resumed = ResumableMetricsWriter(str(tmp_path), resumed_step=10)
    resumed.log_metrics({"train/loss_step": 1.4}, step=19)
    resumed.save()
    assert [(row["step"], row["train/loss_step"]) for row in rows(writer.metrics_file_path)] == [("9", "2.0"),
                                                                                                ("19", "1.4")]


def test_an_epoch_cut_short_by_max_steps_reports_its_own_figures_only(tmp_path: Path):
    from tests.conftest import run_in_process

    result = run_in_process("train", "trainer.max_steps=30", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "at most 30 epochs or 30 steps" in result.stdout
    first, cut = rows(tmp_path / "run" / "metrics.csv")
    assert (first["step"], cut["step"]) == ("20", "30") and cut["train/loss"] != first["train/loss"]
    assert first["val/loss"] and not cut["val/loss"]  # no validation ran in the cut epoch: none is reported
    assert [line.split()[3] for line in result.stdout.splitlines() if line.startswith("epoch")] == [
        f"{float(first['train/loss']):.4f}", f"{float(cut['train/loss']):.4f}"]
