"""What a run cost and where its numbers came from, for results.json: ``cost`` (wall time per
phase, training tokens per second, evaluation examples per second, peak memory) and
``provenance`` (the exact command, the model's fingerprint and, for a preset converted from a
package, where it came from, a hash of every split as loaded)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shlex
import sys
from collections.abc import Collection
from pathlib import Path


def cost_entry(durations: dict[str, float], workload, training, cached: Collection[str], device: str) -> dict:
    """Throughput and peak memory of the run so far (the seconds per phase are ``durations``)."""
    n_test = {task.name: len(workload.test[task.name]) for task in workload.tasks}
    predicted_before = sum(n for name, n in n_test.items() if name not in cached)
    rates = {}
    if predicted_before and durations.get("eval_before"):
        rates["before"] = round(predicted_before / durations["eval_before"], 2)
    if training is not None and durations.get("eval_after"):
        rates["after"] = round(sum(n_test.values()) / durations["eval_after"], 2)
    tokens = (training.tokens or {}) if training is not None else {}
    return {
        "train_tokens_per_second": tokens.get("real_per_second"),
        "train_real_tokens": tokens.get("real"),
        "eval_examples_per_second": rates,
        "eval_examples_predicted": {
            "before": predicted_before,
            "after": sum(n_test.values()) if training else 0,
        },
        "peak_memory": peak_memory(device),
    }


def peak_memory(device: str) -> dict:
    """Peak resident memory of this process (bytes), and the accelerator's peak allocation."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"process_rss_bytes": rss if sys.platform == "darwin" else rss * 1024}
    if device.startswith("cuda"):
        import torch

        out["cuda_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
    return out


def command_line(argv: list[str] | None = None) -> str:
    """The command that started the run, as it can be typed again (``harness run --set ...``)."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    head = argv[0]
    if head.endswith(("harness/cli.py", "harness/__main__.py")) or os.path.basename(head) == "harness":
        head = "harness"
    return shlex.join([head, *argv[1:]])


def _digest(material) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def provenance_entry(loaded, workload, training=None) -> dict:
    """The exact command and working folder, the fingerprints of the base model and of the tuned
    one (hashes of their files, as the baseline cache computes them), a preset's origin (its
    ``harness_preset.json`` provenance: package, version, file SHA-256, license, quantization;
    null for other models) and a SHA-256 of every split as loaded."""
    from harness.evaluation.cache import examples_digest
    from harness.models.fingerprint import directory_fingerprint, model_fingerprint

    data = {}
    for task in workload.tasks:
        splits = {"test": workload.test.get(task.name), "train": workload.train.get(task.name)}
        splits["dev"] = workload.dev.get(task.name)
        data[task.name] = {split: examples_digest(ex) for split, ex in splits.items() if ex}
    tuned = Path(training.output_dir) if training is not None and training.output_dir else None
    tuned_digest = _digest(directory_fingerprint(tuned)) if tuned and tuned.is_dir() else None
    return {
        "command": command_line(),
        "cwd": os.getcwd(),
        "model_fingerprint": _digest(model_fingerprint(loaded)),
        "tuned_model_fingerprint": tuned_digest,
        "model_origin": getattr(loaded, "origin", None),  # a preset's package, file hashes, license
        "data_sha256": data,
    }
