"""Decisions built on a run's numbers: per-task verdicts (:mod:`.verdicts`) and the gates a run
must pass (:mod:`.gates`)."""

from harness.decisions.gates import Gate, check, parse
from harness.decisions.verdicts import IMPROVED, OUTCOMES, REGRESSED, UNCHANGED, decide, holm

__all__ = ["IMPROVED", "OUTCOMES", "REGRESSED", "UNCHANGED", "Gate", "check", "decide", "holm", "parse"]
