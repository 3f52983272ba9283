"""Checkpoints: the Trainer's own ``checkpoint-<step>`` folders under ``<models_dir>/<run_id>/
checkpoints/``, finding the one to resume from, writing the final model, and cleaning up.

Everything the Trainer needs to resume (dev curve, best step, early-stopping counter, token counts)
lives in a checkpoint's ``trainer_state.json``, so a resumed run continues exactly where the
checkpoint left off and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.training.dev import patience_exhausted

WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors", "model.safetensors.index.json")


def checkpoints_dir(output_dir: Path) -> Path:
    """Where the checkpoints of the model saved to ``output_dir`` live: its sibling ``checkpoints``."""
    return (output_dir.parent / "checkpoints").resolve()


def checkpoint_step(path: Path) -> int:
    """The step in a ``checkpoint-<step>`` folder name, or -1 when it has none."""
    try:
        return int(path.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def checkpoint_is_complete(path: Path) -> bool:
    """True when the Trainer finished writing ``path``: its ``trainer_state.json`` (written last)
    loads and the weights are there."""
    try:
        json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any((path / name).is_file() for name in WEIGHT_FILES)


def complete_checkpoints(checkpoints: Path) -> list[Path]:
    """The complete ``checkpoint-<step>`` folders under ``checkpoints``, by step (none: ``[]``)."""
    if not checkpoints.is_dir():
        return []
    found = sorted(
        (p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and checkpoint_step(p) >= 0),
        key=checkpoint_step,
    )
    return [p for p in found if checkpoint_is_complete(p)]


def latest_checkpoint(checkpoints: Path) -> Path | None:
    """The complete checkpoint with the highest step under ``checkpoints``, or None."""
    complete = complete_checkpoints(checkpoints)
    return complete[-1] if complete else None


def remove_incomplete_checkpoints(checkpoints: Path) -> list[Path]:
    """Delete checkpoint folders an interrupted save left half-written; returns them."""
    removed = []
    if checkpoints.is_dir():
        for path in checkpoints.glob("checkpoint-*"):
            if path.is_dir() and not checkpoint_is_complete(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def resume_point(checkpoints: Path) -> Path | None:
    """The checkpoint to resume from, after rank 0 removed half-written ones; all ranks call this."""
    from harness import distributed

    if distributed.is_main():
        remove_incomplete_checkpoints(checkpoints)
    distributed.barrier()
    return latest_checkpoint(checkpoints)


def training_ended(checkpoint: Path, patience: int, total_steps: int, margin: float = 0.0) -> bool:
    """True when training had already ended at ``checkpoint``: patience ran out (with the noise
    ``margin``), or it is the last step."""
    saved = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    if patience_exhausted(saved.get("log_history", []), patience, margin):
        return True
    return saved.get("global_step", 0) >= saved.get("max_steps", total_steps)


def save_final(trainer, tokenizer, output_dir: Path, sharded: bool) -> None:
    """Write the trained model and its tokenizer to ``output_dir``; all ranks call this.

    Sharded weights (FSDP / DeepSpeed) are gathered by the Trainer and written by rank 0; with DDP
    every rank holds the same weights and rank 0 writes them.
    """
    from harness import distributed

    if sharded:
        trainer.save_model(str(output_dir))
    elif distributed.is_main():
        output_dir.mkdir(parents=True, exist_ok=True)
        trainer.model.save_pretrained(output_dir)
    if distributed.is_main():
        tokenizer.save_pretrained(output_dir)
    distributed.barrier()  # every rank has loaded the best checkpoint and the model is written


def clean_up(checkpoints: Path, keep: bool) -> None:
    """After a successful run: delete the checkpoints (unless ``keep``), or at least an empty folder."""
    from harness import distributed

    if not distributed.is_main():
        return
    if not keep:
        shutil.rmtree(checkpoints, ignore_errors=True)
    elif checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()
