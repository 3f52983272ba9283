"""The guard suite: lm-evaluation-harness tasks evaluated before and after tuning on the same
model, so "did tuning break general ability" is answered in the same run, report and verdicts.

Guard tasks are named in the config's ``[guard]`` table: lm-eval task names (``hellaswag``) or
local task YAML files (``guards/parity.yaml``). lm-eval computes their metrics; harness adds
the paired statistics (McNemar or paired bootstrap over lm-eval's per-sample scores) and
verdicts like for its own tasks. Needs the ``guard`` extra (``pip install 'harness[guard]'``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from harness.config import Config
from harness.errors import HarnessError, did_you_mean
from harness.metrics import Metric, MetricResult

INSTALL = "pip install 'harness[guard]'"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class GuardEvaluation:
    """lm-eval's results for one guard task on one model."""

    name: str
    output_type: str
    version: str
    source: str
    metrics: dict[str, tuple[Metric, MetricResult]]  # by metric name ("acc", "exact_match/strict")
    rows: list[dict]  # one per document: id, prompt, input, reference, prediction, scores


def resolve(config: Config) -> dict[str, Path | None]:
    """The configured guard tasks as ``{lm-eval task name: its YAML file, or None}``; checks that
    lm-eval is installed, that files exist and names are known, before any model is loaded."""
    if not config.guard.tasks:
        return {}
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise HarnessError(
            f"config: guard.tasks needs lm-evaluation-harness, which is not installed ({INSTALL})"
        ) from None
    import yaml

    resolved: dict[str, Path | None] = {}
    for entry in config.guard.tasks:
        if entry.endswith(YAML_SUFFIXES) or "/" in entry:
            path = Path(entry)
            if not path.is_file():
                raise HarnessError(f"config: guard.tasks: {path}: task YAML file not found")
            try:
                name = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("task")
            except (yaml.YAMLError, UnicodeDecodeError, AttributeError) as exc:
                raise HarnessError(f"{path}: not a task YAML file ({type(exc).__name__})") from None
            if not isinstance(name, str) or not name:
                raise HarnessError(f"{path}: no 'task:' name in this lm-eval task file")
            resolved[name] = path
        else:
            resolved[entry] = None
    named = [name for name, path in resolved.items() if path is None]
    if named:
        known = _task_manager(resolved).all_tasks
        for name in named:
            if name not in known:
                raise HarnessError(
                    f"config: guard.tasks: unknown lm-eval task {name!r}{did_you_mean(name, known)}"
                )
    return resolved


def evaluate_guards(model, tokenizer, guards: dict[str, Path | None], config: Config) -> dict:
    """Every guard task evaluated by lm-eval on ``model``: ``{name: GuardEvaluation}``."""
    if not guards:
        return {}
    from lm_eval.evaluator import evaluate
    from lm_eval.models.huggingface import HFLM

    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(logging.ERROR)
    lm = HFLM(
        pretrained=model, tokenizer=tokenizer, batch_size=config.guard.batch_size, device=str(model.device)
    )
    tasks = _task_manager(guards).load(list(guards))
    if config.guard.num_fewshot:
        for task in tasks["tasks"].values():
            task.set_config(key="num_fewshot", value=config.guard.num_fewshot)
            task.set_fewshot_seed(seed=config.seed)
    output = evaluate(
        lm, tasks, limit=config.guard.limit or None, bootstrap_iters=0, log_samples=True, verbosity="ERROR"
    )
    return {name: _evaluation(name, guards[name], output) for name in guards}


def _task_manager(guards: dict[str, Path | None]):
    from lm_eval.tasks import TaskManager

    folders = sorted({str(path.resolve().parent) for path in guards.values() if path is not None})
    return TaskManager(include_path=folders or None, include_defaults=any(p is None for p in guards.values()))


def _evaluation(name: str, path: Path | None, output: dict) -> GuardEvaluation:
    samples = sorted(output["samples"][name], key=lambda s: (int(s["doc_id"]), s.get("filter", "none")))
    output_type = output["configs"][name].get("output_type", "")
    higher = output["higher_is_better"].get(name, {})
    metrics: dict[str, tuple[Metric, MetricResult]] = {}
    rows: dict[int, dict] = {}
    for sample in samples:
        doc_id = int(sample["doc_id"])
        row = rows.setdefault(doc_id, _row(name, sample, output_type))
        for metric in sample.get("metrics", []):
            key = metric if sample.get("filter", "none") == "none" else f"{metric}/{sample['filter']}"
            value = sample.get(metric)
            row["scores"][key] = float(value) if _is_number(value) else None
    for key in dict.fromkeys(k for row in rows.values() for k in row["scores"]):
        metric, _, filter_name = key.partition("/")
        score = output["results"][name].get(f"{metric},{filter_name or 'none'}")
        per_example = [row["scores"].get(key) for row in rows.values()]
        numeric = all(v is not None for v in per_example)
        binary = numeric and all(v in (0.0, 1.0) for v in per_example)
        spec = Metric(
            key, _computed_by_lm_eval, higher_is_better=bool(higher.get(metric, True)), binary=binary
        )
        result = MetricResult(float(score), per_example if numeric else None, {"computed_by": "lm-eval"})
        metrics[key] = (spec, result)
    version = str(output["versions"].get(name, ""))
    return GuardEvaluation(
        name, output_type, version, str(path or f"lm-eval:{name}"), metrics, list(rows.values())
    )


def _row(name: str, sample: dict, output_type: str) -> dict:
    arguments = list(sample.get("arguments") or [])
    prompt = str(arguments[0][0]) if arguments and isinstance(arguments[0], (list, tuple)) else ""
    responses = sample.get("filtered_resps")
    target = sample.get("target")
    choices = [str(argument[1]) for argument in arguments] if output_type == "multiple_choice" else []
    if choices:
        likelihoods = [float(r[0] if isinstance(r, (list, tuple)) else r) for r in responses]
        prediction = choices[max(range(len(choices)), key=likelihoods.__getitem__)].strip()
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            target = choices[int(target)].strip() if int(target) < len(choices) else target
    else:
        prediction = responses[0] if isinstance(responses, (list, tuple)) and responses else responses
    return {
        "task": name,
        "id": f"{name}-{sample['doc_id']}",
        "prompt": prompt,
        "input": str(sample.get("doc", "")),
        "reference": str(target),
        "references": [str(target)],
        "prediction": str(prediction),
        "scores": {},
    }


def _computed_by_lm_eval(predictions, references):
    raise HarnessError("a guard task's metrics are computed by lm-eval, not by harness")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def add_to_results(
    results: dict, samples: list[dict], before: dict, after: dict | None, config: Config
) -> None:
    """Add each guard task to ``results["tasks"]`` (``"kind": "guard"``) and its rows to
    ``samples``, with the same statistics as harness's own tasks; call before verdicts."""
    from harness.evaluation.flips import flips
    from harness.evaluation.stats import metric_entry

    for name, b in before.items():
        a = after.get(name) if after else None
        rows = []
        for i, row in enumerate(b.rows):
            saved = {k: v for k, v in row.items() if k not in ("prediction", "scores")}
            saved["prediction_before"] = row["prediction"]
            saved["scores_before"] = {k: v for k, v in row["scores"].items() if v is not None}
            if a is not None:
                saved["prediction_after"] = a.rows[i]["prediction"]
                saved["scores_after"] = {k: v for k, v in a.rows[i]["scores"].items() if v is not None}
            rows.append(saved)
        metrics = {
            key: metric_entry(spec, None, result, a.metrics[key][1] if a else None, config)
            for key, (spec, result) in b.metrics.items()
        }
        entry = {
            "kind": "guard",
            "version": b.version,
            "source": b.source,
            "instruction": None,
            "test_data": b.source,
            "n_test": len(rows),
            "n_train": 0,
            "primary_metric": next(iter(metrics)),
            "scoring": b.output_type,
            "metrics": metrics,
        }
        if a is not None:
            entry["flips"] = flips(name, entry["primary_metric"], rows)
        results["tasks"][name] = entry
        samples += rows


def recorded_metrics(task: dict, rows: list[dict], corpus: dict[str, dict], config: Config) -> dict:
    """A guard task's metric entries again, from saved scores rather than lm-eval (``harness
    rescore`` and ``compare`` load no model): per-example scores from the rows'
    ``scores_<phase>``, corpus scores from ``corpus`` (``{phase: {metric: score}}``, phases
    ``"before"`` and optionally ``"after"``)."""
    from harness.evaluation.stats import metric_entry

    entries = {}
    for key, saved in task["metrics"].items():
        results = {}
        for phase, scores in corpus.items():
            per_example = [(row.get(f"scores_{phase}") or {}).get(key) for row in rows]
            numeric = all(_is_number(v) for v in per_example)
            results[phase] = MetricResult(
                float(scores[key]), per_example if numeric else None, {"computed_by": "lm-eval"}
            )
        first = results["before"].per_example
        binary = first is not None and all(v in (0.0, 1.0) for v in first)
        spec = Metric(
            key, _computed_by_lm_eval, higher_is_better=bool(saved["higher_is_better"]), binary=binary
        )
        entries[key] = metric_entry(spec, None, results["before"], results.get("after"), config)
    return entries
