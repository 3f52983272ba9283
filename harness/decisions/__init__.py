"""Decisions built on a run's numbers: per-task verdicts (:mod:`.verdicts`), the gates a run
must pass (:mod:`.gates`), and the one step that concludes a run with both (:mod:`.conclude`).
Nothing here reads or writes reports."""

from harness.decisions.conclude import conclude
from harness.decisions.gates import Gate, check, parse
from harness.decisions.verdicts import IMPROVED, OUTCOMES, REGRESSED, UNCHANGED, decide, holm

__all__ = [
    "IMPROVED",
    "OUTCOMES",
    "REGRESSED",
    "UNCHANGED",
    "Gate",
    "check",
    "conclude",
    "decide",
    "holm",
    "parse",
]
