"""The guard suite: lm-evaluation-harness tasks evaluated on the same model before and after
tuning, so "did tuning break general ability?" is answered in the same run (``[guard]`` in the
config; the optional extra ``pip install 'harness[guard]'``).

A guard task is an lm-eval task name (``arc_easy``; needs its data, usually from the Hub) or
the path of a local lm-eval task YAML (its ``task:`` name is used; works offline over local
data). Results go to ``results.json`` as ``guard`` (:func:`compare`); a significant drop is a
run warning.
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.errors import HarnessError

EXTRA = "pip install 'harness[guard]'"
Z = 1.96  # two-sided 95%: a change is significant when |delta| > Z * its standard error


def resolve(tasks: list[str]) -> tuple[list[str], list[str]]:
    """``(task names, include folders)`` for ``tasks``: a ``.yaml``/``.yml`` path is read for its
    ``task:`` name and its folder is included. Raises :class:`HarnessError` for a missing or
    nameless YAML (before any model work)."""
    names, folders = [], []
    for entry in tasks:
        if not entry.endswith((".yaml", ".yml")):
            names.append(entry)
            continue
        path = Path(entry).expanduser()
        if not path.is_file():
            raise HarnessError(f"guard: task file not found: {path}")
        name = _task_name(path)
        if not name:
            raise HarnessError(f"guard: {path} has no 'task:' line naming the lm-eval task")
        names.append(name)
        folders.append(str(path.resolve().parent))
    return names, sorted(set(folders))


def _task_name(path: Path) -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("task:"):
            return line.split(":", 1)[1].strip().strip("'\"") or None
    return None


def evaluate(model, tokenizer, tasks: list[str], limit: int = 0, batch_size: int = 8) -> dict[str, dict]:
    """Every guard task on ``model``: ``{task: {metric: {"value", "stderr", "higher_is_better"},
    "n": examples}}`` (lm-eval's ``acc,none`` read as ``acc``)."""
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise HarnessError(f"guard: the guard suite needs lm-evaluation-harness: {EXTRA}") from None
    names, folders = resolve(tasks)
    manager = TaskManager(include_path=folders or None)
    unknown = [name for name in names if name not in manager.all_tasks]
    if unknown:
        raise HarnessError(
            f"guard: unknown lm-eval task {unknown[0]!r} (a name lm-eval knows, or a task .yaml)"
        )
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    try:
        output = lm_eval.simple_evaluate(
            model=lm, tasks=names, task_manager=manager, limit=limit or None, log_samples=False
        )
    except Exception as exc:  # data not found offline, a bad YAML: one line
        text = str(exc).strip().splitlines()
        raise HarnessError(f"guard: lm-eval failed: {type(exc).__name__}: {text[0] if text else ''}") from exc
    found = {}
    for name in names:
        scores = output["results"].get(name, {})
        directions = output.get("higher_is_better", {}).get(name, {})
        entry: dict = {"n": output.get("n-samples", {}).get(name, {}).get("effective")}
        for key, value in scores.items():
            metric, _, _ = key.partition(",")
            if metric in ("name", "alias", "sample_len") or metric.endswith("_stderr"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                stderr = scores.get(key.replace(metric, f"{metric}_stderr", 1))
                entry[metric] = {
                    "value": float(value),
                    "stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
                    "higher_is_better": bool(directions.get(metric, True)),
                }
        found[name] = entry
    return found


def compare(before: dict[str, dict], after: dict[str, dict] | None) -> dict[str, dict]:
    """``before`` and ``after`` side by side: per task and metric ``before``, ``after``, ``delta``
    and ``outcome`` (``"regressed"``/``"improved"`` when ``|delta|`` exceeds 1.96 times the
    standard error of the difference, from lm-eval's two standard errors; else ``"no clear
    change"``). ``after`` None (eval mode): ``before`` only."""
    table: dict[str, dict] = {}
    for task, metrics in before.items():
        table[task] = {"n": metrics.get("n"), "metrics": {}}
        for metric, first in metrics.items():
            if metric == "n":
                continue
            row = {"before": first["value"], "higher_is_better": first["higher_is_better"]}
            second = (after or {}).get(task, {}).get(metric)
            if second is not None:
                delta = second["value"] - first["value"]
                row.update(after=second["value"], delta=delta, outcome=_outcome(delta, first, second))
            table[task]["metrics"][metric] = row
    return table


def _outcome(delta: float, first: dict, second: dict) -> str:
    errors = [e for e in (first["stderr"], second["stderr"]) if e is not None and math.isfinite(e)]
    if len(errors) < 2 or abs(delta) <= Z * math.sqrt(errors[0] ** 2 + errors[1] ** 2):
        return "no clear change"
    better = delta > 0 if first["higher_is_better"] else delta < 0
    return "improved" if better else "regressed"


def warnings(table: dict[str, dict]) -> list[str]:
    """One line per guard metric that regressed, for the terminal and the report."""
    return [
        f"guard {task}: {metric} went from {row['before']:.4g} to {row['after']:.4g} after tuning, worse "
        "beyond 1.96 standard errors: tuning may have cost general ability"
        for task, entry in table.items()
        for metric, row in entry["metrics"].items()
        if row.get("outcome") == "regressed"
    ]
