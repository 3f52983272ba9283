"""How every flow ends (the cycle, ``harness rescore``, ``harness compare``): the run is
concluded (verdicts, gates: :func:`harness.decisions.conclude`), its report set is written and
the output folder's run history is updated. Written once, here, so the three end alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from harness.config import Config
from harness.decisions import Gate, conclude
from harness.reports.history import update_index
from harness.reports.store import write_reports


def close(
    folder: Path,
    results: dict,
    samples: list[dict],
    config: Config,
    gates: Sequence[Gate] = (),
    *,
    amend: Callable[[dict], None] | None = None,
) -> tuple[dict, dict[str, Path]]:
    """Conclude ``results`` under ``config`` and ``gates``, write the report set as ``folder``
    and update the run history of its parent; returns the results written and their paths.

    :param amend: called on the concluded results before they are written (a rescore records
        there what its new numbers changed).
    """
    results = conclude(results, config, gates)
    if amend is not None:
        amend(results)
    paths = write_reports(folder, results, samples)
    update_index(Path(folder).parent)
    return results, paths
