"""Python's cyclic garbage collector, set for a process that imports half a million objects, then trains, then exits.

A dltrain process imports torch, Lightning and Hydra: about 530,000 objects the collector tracks. Each full
collection walks all of them (0.1-0.4 s on 2 cores); the import's growth triggers eight of them, two more fall around
`fit`, and the interpreter's own collections at exit take ~1.9 s more. Together that was a fifth of a 30-epoch
LeNet-5 run (15.2-17.1 s; 12.2-14.0 s without them, three alternated pairs) and two fifths of `debug=smoke`.
Start-up creates little cyclic garbage, so full collections wait for it to end (young objects are still collected as
usual); what is alive then is frozen (it lives until exit anyway, and the collector stops walking it) and the
collector gets Python's settings back for the training (commands that build no trainer, export and predict, are
short and end before a full collection would matter). At exit nothing alive needs collecting: the process's memory
goes back to the system whole.

Only the program's entry point defers: code that calls `cli.main` itself (the tests do) keeps its collector as it is.
"""

from __future__ import annotations

import gc

# Python's thresholds while full collections wait (None: they do not, or no longer).
_deferred_from: tuple[int, int, int] | None = None
# A full collection runs after this many young-generation ones: never, in a start-up.
_NEVER = 1_000_000_000


def defer_full_collections() -> None:
    """Young objects are still collected; the full collections that walk every imported object wait for settle()."""
    global _deferred_from
    _deferred_from = gc.get_threshold()
    gc.set_threshold(_deferred_from[0], _deferred_from[1], _NEVER)


def settle() -> None:
    """Start-up is over: freeze what is alive and give the collector Python's settings back. The first call in a
    process that deferred acts; the later ones (the next jobs of a sweep) would freeze the jobs' garbage, so do not."""
    global _deferred_from
    if _deferred_from is None:
        return
    gc.freeze()
    gc.set_threshold(*_deferred_from)
    _deferred_from = None


def skip_collections_at_exit() -> None:
    """The interpreter's collections at exit walk everything alive to free what the system frees anyway. Objects
    with finalizers are still finalized when their references go; only those in reference cycles are not (dltrain
    closes its files with `with`, and loggers flush in their atexit hooks, which still run)."""
    gc.freeze()
