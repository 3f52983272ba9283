"""Run configuration: dataclasses with defaults, a TOML loader and ``key=value`` overrides.

Unknown keys and badly typed values are errors naming the file, line and key.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, did_you_mean

PROMPT_TEMPLATES = {
    # Alpaca's section headers without its long preamble: 2.6x fewer tokens on short tasks.
    "compact": "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
    # The original Alpaca template (Taori et al., 2023).
    "alpaca": (
        "Below is an instruction that describes a task, paired with an input that provides further "
        "context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
    ),
}


@dataclass
class TrainConfig:
    """Fine-tuning hyperparameters (transformers Trainer underneath)."""

    epochs: float = 20.0
    batch_size: int = 8
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03  # fraction of steps spent warming up the learning rate
    lr_scheduler: str = "linear"
    max_length: int = 384  # prompt + response tokens; longer examples have their input cut (its end)
    gradient_checkpointing: bool = False
    # padding-free batches: each batch is one row of its examples' real tokens, attention kept within
    # each example (harness/training/packing.py); false = right-padded batches. Both in random order.
    padding_free: bool = True
    logging_steps: int = 10
    max_steps: int = -1  # > 0 overrides epochs
    eval_every: int = 0  # dev evaluation (and checkpoint) every N steps; 0 = once per epoch
    dev_size: int = 20  # dev examples held out per trained task (at most a quarter of its train); 0 = none
    # keep the best checkpoint by: mean (of the tasks' normalised primary metrics, each weighted by its
    # dev examples) | last | <trained task name>
    select_by: str = "mean"
    # stop once this many dev evaluations in a row scored more than the noise margin (1 / sqrt(dev
    # examples)) below the best; 0 = never
    patience: int = 3
    save_every: int = 0  # also checkpoint every N steps (for resume); 0 = only at dev evaluations
    keep_checkpoints: bool = False  # keep <models_dir>/<run_id>/checkpoints after a successful run
    # scale-out engines, passed straight to transformers' TrainingArguments when set (multi-process
    # runs are started with torchrun / accelerate launch; plain DDP needs none of these)
    fsdp: str = ""  # TrainingArguments.fsdp, e.g. "full_shard auto_wrap"
    fsdp_config: dict[str, Any] = field(default_factory=dict)  # TrainingArguments.fsdp_config
    deepspeed: str = ""  # path to a DeepSpeed JSON config (TrainingArguments.deepspeed)
    # trackers the Trainer logs to (TrainingArguments.report_to), each installed separately: e.g.
    # ["tensorboard"] (logs in <models_dir>/<run_id>/logs), "mlflow", "wandb"; [] = none
    report_to: list[str] = field(default_factory=list)


@dataclass
class LoraConfig:
    """LoRA adapter settings (peft), used when method is ``lora``."""

    r: int = 8
    alpha: int = 16  # usually 2 x r
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])


@dataclass
class EvalConfig:
    """Evaluation settings, identical before and after tuning."""

    batch_size: int = 32
    limit: int = 0  # at most this many test examples per task; 0 = all
    num_fewshot: int = 0  # demonstrations from train before each prompt (harness/tasks/fewshot.py)


@dataclass
class StatsConfig:
    """Statistics of the before/after comparison (harness/evaluation/stats.py)."""

    n_resamples: int = 1000  # bootstrap resamples for confidence intervals and paired tests
    alpha: float = 0.05  # significance level of the paired tests; intervals are at 1 - alpha
    # smallest change of a task's primary metric that counts as improved / regressed, on the
    # metric's 0-1 scale (0.01 = one accuracy point, or one BLEU point on sacrebleu's 0-100)
    min_effect: float = 0.01
    correction: str = "holm"  # holm | none: family-wise error control over the tasks' primary metrics


@dataclass
class GatesConfig:
    """Conditions a run must meet (``--gate`` adds more); a failed gate exits with code 1."""

    require: list[str] = field(default_factory=list)  # e.g. ["sentiment.accuracy>=0.8", "no-regression"]


@dataclass
class GuardConfig:
    """lm-evaluation-harness tasks evaluated before and after tuning (harness/evaluation/guard.py)."""

    tasks: list[str] = field(default_factory=list)  # lm-eval task names or task YAML files
    limit: int = 0  # at most this many documents per task; 0 = all
    num_fewshot: int = 0
    batch_size: int = 8


@dataclass
class Config:
    """Everything a run needs. ``harness run --config FILE --set key=value`` builds one."""

    model: str = "tiny"  # preset name, Hugging Face Hub id, or local directory
    # opt-ins for this model: pickle (.bin) weights, which can run code when loaded (safetensors
    # only when false); the model's own Python code (config.json auto_map)
    allow_pickle: bool = False
    trust_remote_code: bool = False
    method: str = "auto"  # auto | full | lora (auto: full for presets, LoRA for pretrained models)
    tasks: list[str] = field(default_factory=lambda: ["summarization", "sentiment", "translation"])
    plugins: list[str] = field(default_factory=list)  # extra plugin files or modules
    tasks_dirs: list[str] = field(default_factory=list)  # folders of *.toml task files (besides ./tasks)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads; 0 = one per core this process may use
    prompt_template: str = (
        "compact"  # compact | alpaca | chat (tokenizer's chat template) | a custom template
    )
    output_dir: str = "reports"  # reports go to <output_dir>/<run-id>/
    models_dir: str = "runs"  # tuned weights go to <models_dir>/<run-id>/model
    train: TrainConfig = field(default_factory=TrainConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-task data overrides
    # tasks to fine-tune on (a subset of tasks): a list, or a table {name = weight} where the weight
    # repeats (2) or subsamples (0.5) that task's examples; empty = every task with training data
    train_tasks: list[str] | dict[str, float] = field(default_factory=list)
    cache: bool = True  # reuse cached baseline ("before") evaluations (harness/evaluation/cache.py)

    def prompt(self) -> str:
        """The prompt template text."""
        return PROMPT_TEMPLATES.get(self.prompt_template, self.prompt_template)


CHOICES = {
    "method": ("auto", "full", "lora"),
    "lr_scheduler": ("linear", "cosine", "constant", "constant_with_warmup"),
    "correction": ("holm", "none"),
}


def load_config(
    path: Path | None = None, overrides: list[str] = (), options: dict[str, str] | None = None
) -> Config:
    """Build a :class:`Config` from an optional TOML file and ``key=value`` overrides.

    :param options: for overrides that came from a command-line option rather than ``--set``,
        ``{override: the option as typed}`` (e.g. ``{'tasks="x"': "--tasks 'x'"}``), so that an
        error names what the user wrote."""
    from harness.validation import Locator, validate

    raw: dict[str, Any] = {}
    locate = Locator()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise HarnessError(f"{path}: config file " + ("is a folder" if path.is_dir() else "not found"))
        text = read_text(path)
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise HarnessError(f"{path}: invalid TOML: {exc}") from None
        locate = Locator(str(path), text)
        raw = relative_to_file(raw, path.parent)
    config = _build(Config, raw, prefix="", locate=locate)
    for item in overrides:
        apply_override(config, item, locate, shown=(options or {}).get(item))
    validate(config, locate)
    return config


def relative_to_file(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``raw`` (a config file's tables) with its relative paths read from the file's ``folder``:
    data files (``[data.<task>]``), plugin files, ``tasks_dirs`` and guard task YAML files. Output
    folders (``output_dir``, ``models_dir``) stay relative to the working directory, where a run
    writes; ``--set`` values too."""

    def resolve(value: Any, is_path=lambda v: True) -> Any:
        if isinstance(value, str) and value and is_path(value) and not Path(value).is_absolute():
            return os.path.normpath(folder / value)
        return value

    def looks_like_file(value: str) -> bool:
        return "/" in value or "\\" in value or value.endswith((".py", ".yaml", ".yml"))

    def resolve_split(spec: Any) -> Any:  # a path, or a table with a path
        return (
            {**spec, "path": resolve(spec["path"])}
            if isinstance(spec, dict) and "path" in spec
            else resolve(spec)
        )

    raw = dict(raw)
    if isinstance(raw.get("plugins"), list):
        raw["plugins"] = [resolve(p, looks_like_file) for p in raw["plugins"]]
    if isinstance(raw.get("tasks_dirs"), list):
        raw["tasks_dirs"] = [resolve(p) for p in raw["tasks_dirs"]]
    guard = raw.get("guard")
    if isinstance(guard, dict) and isinstance(guard.get("tasks"), list):
        raw["guard"] = {**guard, "tasks": [resolve(t, looks_like_file) for t in guard["tasks"]]}

    if isinstance(raw.get("data"), dict):
        data = {}
        for task, splits in raw["data"].items():
            if isinstance(splits, dict):  # else a type error, reported later with its place
                splits = {split: resolve_split(spec) for split, spec in splits.items()}
            data[task] = splits
        raw["data"] = data
    return raw


def read_text(path: Path) -> str:
    """A text file's content (a UTF-8 BOM dropped); bytes that are not UTF-8 raise one line
    naming the file, line and column."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise HarnessError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None


def validate(config: Config) -> None:
    """Check values that types alone do not catch (:func:`harness.validation.validate`)."""
    from harness.validation import validate as check

    check(config)


def apply_override(config: Config, item: str, locate=None, shown: str | None = None) -> None:
    """Apply one ``dotted.key=value`` override; the value is parsed as TOML, else taken as a string.
    ``locate`` (a :class:`~harness.validation.Locator`) records which key the override set, and
    ``shown`` how errors name it (default ``--set 'ITEM'``)."""
    key, sep, value_text = item.partition("=")
    if not sep or not key.strip():
        raise HarnessError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=3")
    parts = [part.strip() for part in key.strip().split(".")]
    if locate is not None:
        locate.record(".".join(parts), item, shown)
    try:
        value = tomllib.loads(f"v = {value_text}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text
    if parts[0] == "data":
        _set_nested(config.data, parts[1:], value, item)
        return
    target: Any = config
    for depth, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(target)]
        dotted = ".".join(parts[: depth + 1])
        if part not in names:
            raise HarnessError(f"--set {item!r}: unknown config key {dotted!r}{did_you_mean(part, names)}")
        if depth == len(parts) - 1:
            hint = typing.get_type_hints(type(target))[part]
            if dataclasses.is_dataclass(hint):
                example = dataclasses.fields(hint)[0].name
                raise HarnessError(
                    f"--set {item!r}: {dotted!r} is a table; set one of its keys, e.g. {dotted}.{example}=..."
                )
            setattr(target, part, _coerce(value, hint, key.strip(), f"--set {item!r}"))
        else:
            target = getattr(target, part)
            if not dataclasses.is_dataclass(target):
                raise HarnessError(f"--set {item!r}: {dotted!r} is not a table")


def _set_nested(mapping: dict, parts: list[str], value: Any, item: str) -> None:
    if not parts or not all(parts):
        raise HarnessError(f"--set {item!r}: name a task, e.g. data.sentiment.test.path=FILE")
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(mapping.get(part, {}), dict):
            dotted = ".".join(["data", *parts[: depth + 1]])
            raise HarnessError(f"--set {item!r}: cannot set a key inside a path string or value ({dotted!r})")
        mapping = mapping.setdefault(part, {})
    mapping[parts[-1]] = value


def _build(cls, raw: dict, prefix: str, locate):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in hints:
            raise HarnessError(f"{locate(dotted)}: unknown config key {dotted!r}{did_you_mean(key, hints)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise HarnessError(f"{locate(dotted)}: {dotted!r} must be a table")
            kwargs[key] = _build(hint, value, f"{dotted}.", locate)
        else:
            kwargs[key] = _coerce(value, hint, dotted, locate(dotted))
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(hint) or hint
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise HarnessError(f"{where}: {key!r} must be a list of strings, got {value!r}")
        return list(value)
    if origin is dict or origin is types.MappingProxyType:
        if not isinstance(value, dict):
            raise HarnessError(f"{where}: {key!r} must be a table, got {value!r}")
        return value
    if origin is bool:
        if not isinstance(value, bool):
            raise HarnessError(f"{where}: {key!r} must be true or false, got {value!r}")
        return value
    if origin is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise HarnessError(f"{where}: {key!r} must be an integer, got {value!r}")
        return value
    if origin is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HarnessError(f"{where}: {key!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise HarnessError(f"{where}: {key!r} must be a finite number, got {value!r}")
        return float(value)
    if origin is str:
        if not isinstance(value, str):
            raise HarnessError(f"{where}: {key!r} must be a string, got {value!r}")
        return value
    return value


def train_task_weights(config: Config) -> dict[str, float]:
    """``train_tasks`` as ``{name: weight}`` (a list or comma-separated string means weight 1);
    empty when not set. Raises on a value that is neither a list nor a table of numbers."""
    value = config.train_tasks
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {name: 1.0 for name in value}
    if isinstance(value, dict) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in value.values()
    ):
        return {str(name): float(w) for name, w in value.items()}
    raise HarnessError(
        f"config: train_tasks must be a list of task names or a table {{name = weight}}, got {value!r}"
    )


def config_from_dict(raw: dict[str, Any], source: str = "saved config") -> Config:
    """Rebuild a :class:`Config` from :func:`to_dict` output (e.g. a run's run_state.json)."""
    from harness.validation import Locator, validate

    if not isinstance(raw, dict):
        raise HarnessError(f"{source}: the saved config is not a table, got {type(raw).__name__}")
    config = _build(Config, raw, prefix="", locate=Locator(source))
    validate(config, Locator(source))
    return config


def to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain data (for results.json)."""
    return dataclasses.asdict(config)
