"""The dltrain program defers full garbage collections until the trainer is built, then freezes start-up's objects;
a process that calls cli.main itself (these tests) keeps its collector as it was."""

from __future__ import annotations

import gc

import pytest

from dltrain import garbage_collection
from dltrain.assemble import build_trainer


@pytest.fixture
def collector_restored():
    """The test process's collector as it was, whatever the test froze or set."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    garbage_collection._deferred_from = None


def walked_by_collections(thing: object) -> bool:
    """Whether the collector's generations hold `thing` (frozen objects are in none of them)."""
    return any(tracked is thing for tracked in gc.get_objects())


def quiet_cpu_trainer() -> dict:
    return {"accelerator": "cpu", "logger": False, "enable_progress_bar": False, "enable_model_summary": False,
            "enable_checkpointing": False}


def test_full_collections_wait_for_the_trainer_then_start_up_is_frozen(collector_restored):
    young, middle, _ = python_threshold = gc.get_threshold()
    garbage_collection.defer_full_collections()
    assert gc.get_threshold()[:2] == (young, middle)  # young objects are still collected during start-up
    assert gc.get_threshold()[2] >= 1_000_000
    from_start_up = ["made before the trainer"]
    assert walked_by_collections(from_start_up)

    build_trainer(quiet_cpu_trainer())

    assert gc.get_threshold() == python_threshold
    assert not walked_by_collections(from_start_up)  # frozen


def test_the_next_job_of_a_sweep_does_not_freeze_the_last_ones_garbage(collector_restored):
    garbage_collection.defer_full_collections()
    build_trainer(quiet_cpu_trainer())
    frozen = gc.get_freeze_count()

    build_trainer(quiet_cpu_trainer())

    assert gc.get_freeze_count() <= frozen  # (frozen objects still go when their last reference does)


def test_a_process_that_did_not_defer_keeps_its_collector(collector_restored):
    threshold = gc.get_threshold()

    build_trainer(quiet_cpu_trainer())

    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold
