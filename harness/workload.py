"""A run's workload: its tasks resolved through the plugins, with their metrics and every split
loaded and checked (train, dev, test) before any model work, so bad input fails fast; then, once
the tokenizer is known, checked against the model's context (:meth:`Workload.fit`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness import plugins
from harness.config import Config, train_task_weights
from harness.errors import DataError, HarnessError, did_you_mean
from harness.tasks import Example, Task
from harness.tasks.data import duplicate_warning, line_of, load_examples, with_data_overrides
from harness.tasks.fewshot import Shots, fewshot_prompts
from harness.tasks.overlap import overlap
from harness.tasks.prompting import DoesNotFit, answer_room, template_notes, training_tokens
from harness.tasks.splits import dev_size_for, dev_size_warning, split_dev


@dataclass
class Workload:
    """The tasks of a run with their loaded data and metrics."""

    tasks: list[Task]
    sources: dict[str, str]  # task name -> plugin it came from
    test: dict[str, list[Example]]
    train: dict[str, list[Example]]  # trained tasks only, dev examples removed
    metrics: dict
    dev: dict[str, list[Example]] = field(default_factory=dict)  # held out from train, per trained task
    train_weights: dict[str, float] = field(default_factory=dict)  # trained task -> sampling weight
    presets: dict = field(default_factory=dict)  # model presets from the same plugins (name -> Registered)
    backends: dict = field(default_factory=dict)  # prediction backends plugins add (name -> Registered)
    warnings: list[str] = field(default_factory=list)  # for the terminal and the report
    truncation: dict[str, dict] = field(default_factory=dict)  # task -> examples cut per split (fit)
    overlap: dict[str, dict] = field(default_factory=dict)  # trained task -> train/test overlap
    shots: dict[str, Shots] = field(default_factory=dict)  # task -> few-shot demonstrations (k > 0)

    def slices(self) -> dict[str, dict]:
        """The slices of the tasks with a ``slice_field``, as the test data holds them:
        ``{task name: {"field", "metric" (the primary, which slices compare), "values"}}``."""
        return {
            task.name: {
                "field": task.slice_field,
                "metric": task.primary_metric,
                "values": sorted({example.slice for example in self.test[task.name]}),
            }
            for task in self.tasks
            if task.slice_field
        }

    def fit(self, tokenizer, context: int | None, config: Config) -> dict[str, dict]:
        """Count, per task and split, the examples whose input is cut to fit: training examples
        (prompt, answer, EOS) over ``train.max_length`` or the ``context``; dev and test prompts
        that leave less than the answer's room (:func:`~harness.tasks.prompting.answer_room`)
        within the ``context``. Records the counts as :attr:`truncation` (``{task: {"train",
        "dev", "test", "limit", "context"}}``, train/dev/limit for trained tasks only; for a
        few-shot task also ``"demos_dropped": {"dev", "test"}``, the demonstrations dropped to
        fit) and a warning per task with cuts; returns the counts.

        Raises :class:`DataError` naming the file and line of an example that cannot fit at all.
        """
        template = config.prompt()
        self.warnings += template_notes(tokenizer, template)  # a chat template unused, or not by turn
        limit = min(config.train.max_length, context) if context else config.train.max_length
        for task in self.tasks:
            counts: dict = {}
            dropped = {}
            if task.name in self.train:
                counts["train"] = self._cut_in_training(task, tokenizer, template, limit, config)
                counts["dev"], dropped["dev"] = self._cut_in_evaluation(
                    task, "dev", tokenizer, template, context
                )
            counts["test"], dropped["test"] = self._cut_in_evaluation(
                task, "test", tokenizer, template, context
            )
            if task.name in self.train:
                counts["limit"] = limit
            counts["context"] = context
            if task.name in self.shots:
                counts["demos_dropped"] = dropped
            self.truncation[task.name] = counts
            room = answer_room(tokenizer, task)
            warning = truncation_warning(task, counts, self._sizes(task.name), room)
            if warning:
                self.warnings.append(warning)
            if any(dropped.values()) and task.name in self.shots:
                parts = " and ".join(f"{n} from {split}" for split, n in dropped.items() if n)
                self.warnings.append(
                    f"task {task.name!r}: few-shot demonstrations dropped to fit the {context}-token "
                    f"context less {room} for the answer: {parts} prompts"
                )
        return self.truncation

    def _sizes(self, name: str) -> dict[str, int]:
        splits = {"train": self.train, "dev": self.dev, "test": self.test}
        return {split: len(examples.get(name, [])) for split, examples in splits.items()}

    def _cut_in_training(self, task: Task, tokenizer, template: str, limit: int, config: Config) -> int:
        cut = 0
        for example in self.train[task.name]:
            try:
                cut += training_tokens(tokenizer, template, example, limit)[1]
            except DoesNotFit as exc:
                binding = "train.max_length" if limit == config.train.max_length else "the model's context"
                raise _located(exc, task, "train", f"shorten them or raise {binding}") from None
        return cut

    def _cut_in_evaluation(
        self, task: Task, split: str, tokenizer, template: str, context
    ) -> tuple[int, int]:
        """Prompts of ``split`` whose input is cut, and demonstrations dropped, to fit ``context``."""
        examples = (self.dev if split == "dev" else self.test).get(task.name, [])
        shots = self.shots.get(task.name)
        try:
            fitted = fewshot_prompts(tokenizer, template, task, examples, context, shots)
            return sum(cut for _, cut, _ in fitted), sum(dropped for _, _, dropped in fitted)
        except DoesNotFit as exc:
            room = answer_room(tokenizer, task)
            hint = f"the model's {context}-token context less {room} tokens for the answer"
            raise _located(exc, task, split, hint) from None


def prepare(config: Config, train: bool = True) -> Workload:
    """Resolve tasks and metrics through the plugins and load every split; fail fast on bad input."""
    pm = plugins.make_plugin_manager(extra=config.plugins, tasks_dirs=config.tasks_dirs)
    registry = plugins.tasks(pm)
    metric_registry = {name: entry.item for name, entry in plugins.metrics(pm).items()}
    for name in config.data:
        if name not in config.tasks:
            raise HarnessError(
                f"config: [data.{name}] names a task that is not in tasks{did_you_mean(name, config.tasks)}"
            )
    tasks = [
        with_data_overrides(task, config.data.get(task.name, {}))
        for task in plugins.select(registry, config.tasks, "task")
    ]
    from harness.metrics.hf_evaluate import resolve_metrics  # evaluate:NAME / evaluate-file:PATH names

    metric_registry = resolve_metrics([m for task in tasks for m in task.metrics], metric_registry)
    for task in tasks:
        for metric in task.metrics:
            if metric not in metric_registry:
                raise HarnessError(
                    f"task {task.name!r} ({registry[task.name].source}): unknown metric "
                    f"{metric!r}{did_you_mean(metric, metric_registry)}"
                )
    weights = train_task_weights(config) if train else {}
    test, train_examples, dev, warnings, contamination = {}, {}, {}, [], {}
    for task in tasks:
        test_examples = load_examples(task.test, task, "test")
        warnings += _duplicates(test_examples, task.test, task, "test")
        test[task.name] = test_examples[: config.eval.limit] if config.eval.limit else test_examples
        if len(test[task.name]) < len(test_examples):  # said in the terminal and the report
            warnings.append(
                f"task {task.name!r}: evaluated on the first {config.eval.limit} of its "
                f"{len(test_examples)} test examples (eval.limit)"
            )
        if train and task.train is not None and (not weights or task.name in weights):
            examples = load_examples(task.train, task, "train")
            warnings += _duplicates(examples, task.train, task, "train")
            dev_source = getattr(task, "dev", None)
            if dev_source is not None:  # a task with its own dev split
                dev[task.name] = load_examples(dev_source, task, "dev")[: config.train.dev_size]
            else:  # carved from train (seeded), never from test
                size = dev_size_for(len(examples), config.train.dev_size)
                examples, dev[task.name] = split_dev(examples, size, config.seed)
            train_examples[task.name] = examples
            contamination[task.name] = overlap(examples + dev[task.name], test[task.name])  # results.json
            if config.train.select_by in ("mean", task.name):  # tasks that take part in selection
                n_dev, n_all = len(dev[task.name]), len(examples) + len(dev[task.name])
                warning = dev_size_warning(task.name, n_dev, n_all, config.train.dev_size)
                warnings += [warning] if warning else []
    for name in weights:
        if name not in train_examples:
            raise HarnessError(f"config: train_tasks names {name!r}, which has no training data")
    shots, few_shot_warnings = _shots(tasks, train_examples, config)
    if train and not train_examples:
        raise HarnessError("config: none of the selected tasks has training data")
    select_by = config.train.select_by
    if train and select_by not in ("mean", "last") and select_by not in train_examples:
        raise HarnessError(
            f"config: train.select_by names {select_by!r}, which is not trained (no training data); "
            f"trained: {', '.join(train_examples)}"
        )
    return Workload(
        tasks,
        {t.name: registry[t.name].source for t in tasks},
        test,
        train_examples,
        metric_registry,
        dev={name: examples for name, examples in dev.items() if examples},
        train_weights={name: weights.get(name, 1.0) for name in train_examples},
        presets=plugins.presets(pm),
        backends=plugins.backends(pm),
        warnings=warnings + few_shot_warnings,
        overlap=contamination,
        shots=shots,
    )


def _shots(tasks: list[Task], train: dict[str, list[Example]], config: Config) -> tuple[dict, list[str]]:
    """Each few-shot task's demonstration pool: its train split less the dev examples, as training
    uses it (loaded here for a task that is not trained); a warning per task with no train split,
    which is evaluated zero-shot."""
    shots, warnings = {}, []
    for task in tasks:
        k = config.eval.num_fewshot if task.num_fewshot is None else task.num_fewshot
        if k == 0:
            continue
        if task.train is None:
            warnings.append(
                f"task {task.name!r} has no train split to draw {k} demonstrations from: zero-shot"
            )
            continue
        pool = train.get(task.name)
        if pool is None:
            pool = load_examples(task.train, task, "train")
            if getattr(task, "dev", None) is None:  # the dev examples carved as training would carve them
                pool, _ = split_dev(pool, dev_size_for(len(pool), config.train.dev_size), config.seed)
        shots[task.name] = Shots(task.name, k, tuple(pool), config.seed)
    return shots, warnings


def _duplicates(examples: list[Example], source, task: Task, split: str) -> list[str]:
    warning = duplicate_warning(examples, source, task, split)
    return [warning] if warning else []


def _located(exc: DoesNotFit, task: Task, split: str, hint: str) -> DataError:
    """``exc`` as a :class:`DataError` naming the file and line the example was read from."""
    own_dev = getattr(task, "dev", None)
    source, loaded_as = (own_dev, "dev") if split == "dev" and own_dev is not None else (None, split)
    if source is None:
        source, loaded_as = (task.test, "test") if split == "test" else (task.train, "train")
    line = line_of(source, task, loaded_as, exc.example)
    return DataError(source.path, f"{exc} ({split} split of task {task.name!r}; {hint})", line=line)


def truncation_warning(task: Task, counts: dict, sizes: dict[str, int], room: int) -> str | None:
    """One line naming how many examples of each split of ``task`` have their input cut, or None."""
    parts = []
    if counts.get("train"):
        limit = counts["limit"]
        parts.append(f"{counts['train']} of {sizes['train']} training examples exceed {limit} tokens")
    cut = [f"{counts[split]} of {sizes[split]} {split}" for split in ("dev", "test") if counts.get(split)]
    if cut:
        context = f"the {counts['context']}-token context less {room} for the answer"
        parts.append(f"{' and '.join(cut)} prompts exceed {context}")
    if not parts:
        return None
    return f"task {task.name!r}: {'; '.join(parts)}: their input was cut (its end dropped)"
