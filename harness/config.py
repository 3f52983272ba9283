"""The run configuration as a record: dataclasses with their defaults, the prompt templates, and
the record as plain data. Reading a config (TOML, ``--set``, a saved run's table) is
:mod:`harness.config_loader`; checking its values is :mod:`harness.validation`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError

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
    # the training seed (data order, adapter initialisation, dropout); -1 = the run's seed. A seed
    # set (seeds > 1) tunes with seed, seed + 1, ... here, everything else seeded as the run's seed
    seed: int = -1
    eval_every: int = 0  # dev evaluation (and checkpoint) every N steps; 0 = once per epoch
    dev_size: int = 20  # dev examples held out per trained task (at most a quarter of its train); 0 = none
    # rank checkpoints by: mean (of the tasks' normalised primary metrics, each weighted by its dev
    # examples) | last | <trained task name>; the best is kept when it beats the last checkpoint by
    # more than the noise margin (1 / sqrt(dev examples)), else the last
    select_by: str = "mean"
    # stop once this many dev evaluations in a row scored more than the noise margin (1 / sqrt(dev
    # examples)) below the best; 0 = never
    patience: int = 3
    save_every: int = 0  # also checkpoint every N steps (for resume); 0 = only at dev evaluations
    # keep <models_dir>/<run_id>/checkpoints after a successful run, every one of them (else only
    # the latest and the best exist while training, all deleted at the end): harness eval --checkpoints
    keep_checkpoints: bool = False
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
    # a release policy file (TOML, harness/decisions/policy.py; --policy): GO / WARN / NO-GO /
    # INCONCLUSIVE on the run, recorded in results.json and the report; "" = none
    policy: str = ""


@dataclass
class GuardConfig:
    """lm-evaluation-harness tasks evaluated before and after tuning (harness/evaluation/guard.py)."""

    tasks: list[str] = field(default_factory=list)  # lm-eval task names or task YAML files
    limit: int = 0  # at most this many documents per task; 0 = all
    num_fewshot: int = 0
    batch_size: int = 8


@dataclass
class ForgettingConfig:
    """The forgetting probe (harness/evaluation/forgetting.py): the base and tuned model's loss on
    a built-in general-text sample, paired by document, and the KL between their predictions."""

    enabled: bool = False  # off by default: it adds a row to the verdicts, the decision and "*" gates
    documents: int = 0  # at most this many of the sample's 168 documents (its first); 0 = all


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
    # tunings with different training seeds on one baseline, and a verdict over them that accounts
    # for the spread of training itself (harness/seeds.py); 1 = a single run
    seeds: int = 1
    # what answers the evaluation's prompts: "hf" (transformers, harness's decoder) or a backend a
    # plugin registers (harness_backends hook, harness/models/backend.py)
    backend: str = "hf"
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
    forgetting: ForgettingConfig = field(default_factory=ForgettingConfig)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-task data overrides
    # tasks to fine-tune on (a subset of tasks): a list, or a table {name = weight} where the weight
    # repeats (2) or subsamples (0.5) that task's examples; empty = every task with training data
    train_tasks: list[str] | dict[str, float] = field(default_factory=list)
    cache: bool = True  # reuse cached baseline ("before") evaluations (harness/evaluation/cache.py)

    def prompt(self) -> str:
        """The prompt template text."""
        return PROMPT_TEMPLATES.get(self.prompt_template, self.prompt_template)

    def training_seed(self) -> int:
        """The seed of training: ``train.seed``, else the run's ``seed``."""
        return self.seed if self.train.seed == -1 else self.train.seed


CHOICES = {
    "method": ("auto", "full", "lora"),
    "lr_scheduler": ("linear", "cosine", "constant", "constant_with_warmup"),
    "correction": ("holm", "none"),
}


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


def to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain data (for results.json)."""
    return dataclasses.asdict(config)
