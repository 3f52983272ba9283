"""A run's identity and folders: its id, where its reports and weights go, and its state file
(``<models_dir>/<run_id>/run_state.json``), from which ``harness run --resume`` rebuilds it.

Only rank 0 writes; every rank of a distributed run shares rank 0's run id.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import distributed
from harness.config import Config, to_dict
from harness.config_loader import config_from_dict
from harness.errors import HarnessError
from harness.files import atomic_write_json

RUN_STATE = "run_state.json"
PHASES = ("started", "training", "evaluating", "done", "failed", "interrupted")


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus 6 random hex digits."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass(frozen=True)
class RunDir:
    """Where one run writes: ``reports_dir`` (``<output_dir>/<run_id>``: results and reports) and
    ``models_dir`` (``<models_dir>/<run_id>``: run state, checkpoints and the tuned model)."""

    run_id: str
    reports_dir: Path
    models_dir: Path

    @classmethod
    def open(cls, config: Config, resume: str | None = None) -> RunDir:
        """A new run (or the run ``resume`` names); a collective: every rank gets rank 0's id."""
        run_id = distributed.broadcast_object(resume or new_run_id())
        return cls(run_id, Path(config.output_dir) / run_id, Path(config.models_dir) / run_id)

    @property
    def state_file(self) -> Path:
        return self.models_dir / RUN_STATE

    @property
    def model_dir(self) -> Path:
        return self.models_dir / "model"

    @property
    def checkpoints(self) -> Path:
        return self.models_dir / "checkpoints"

    def write_state(self, config: Config, phase: str, **extra) -> None:
        """Record the run's config and ``phase`` (one of :data:`PHASES`) in its state file,
        atomically, with ``extra`` fields (``error``, ``results``). Rank 0 only; no-op elsewhere."""
        if phase not in PHASES:
            raise ValueError(f"unknown run phase {phase!r}")
        if not distributed.is_main():
            return
        state = {
            "run_id": self.run_id,
            "phase": phase,
            "updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "cwd": os.getcwd(),  # relative paths in the config are relative to this
            "checkpoints": str(self.checkpoints),
            **extra,
            "config": to_dict(config),
        }
        atomic_write_json(self.state_file, state, indent=2)

    @contextmanager
    def recording(self, config: Config, enabled: bool = True) -> Iterator[None]:
        """Record ``started`` now, and ``failed`` (with the reason) or ``interrupted`` if the block
        raises, so that ``--resume`` can continue the run. Nothing is written when not ``enabled``."""
        if not enabled:
            yield
            return
        self.write_state(config, "started")
        try:
            yield
        except KeyboardInterrupt:
            self.write_state(config, "interrupted")
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
            self.write_state(config, "failed", error=reason)
            raise


def read_state(run: str, models_dir: str = "runs", option: str = "--resume") -> tuple[Path, dict]:
    """A run's folder and its ``run_state.json``, checked; each problem is one line naming ``option``.

    :param run: a run id (looked up under ``models_dir``) or the run's directory.
    """
    directory = Path(run) if (Path(run) / RUN_STATE).is_file() else Path(models_dir) / run
    path = directory / RUN_STATE
    if not path.is_file():
        raise HarnessError(f"{option} {run}: no {RUN_STATE} in {directory} (is models_dir right?)")
    try:
        state = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:  # bad JSON, or bytes that are not UTF-8
        raise HarnessError(f"{path}: unreadable run state ({exc}); start a new run instead") from None
    if not isinstance(state, dict):
        raise HarnessError(
            f"{path}: unreadable run state (a JSON object expected, got {type(state).__name__})"
        )
    for key, kind in (("run_id", str), ("phase", str), ("config", dict)):
        if not isinstance(state.get(key), kind):
            raise HarnessError(f"{path}: unreadable run state ({key!r} missing or of the wrong type)")
    if state["phase"] not in PHASES:
        raise HarnessError(f"{path}: unreadable run state (unknown phase {state['phase']!r})")
    if state["run_id"] != directory.name:
        raise HarnessError(f"{path}: run state of run {state['run_id']!r}, found in {directory}")
    return directory, state


def resumed_config(run: str, models_dir: str = "runs") -> tuple[Config, str]:
    """The saved config and run id of an interrupted run, from its ``run_state.json``.

    :param run: a run id (looked up under ``models_dir``) or the run's directory.
    """
    directory, state = read_state(run, models_dir, "--resume")
    if state["phase"] == "done":
        raise HarnessError(f"--resume {run}: that run already finished; see {state.get('results')}")
    return config_from_dict(state["config"], source=str(directory / RUN_STATE)), state["run_id"]
