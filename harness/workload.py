"""A run's workload: its tasks resolved through the plugins, with their metrics and every split
loaded and checked (train, dev, test) before any model work, so bad input fails fast."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness import plugins
from harness.config import Config, train_task_weights
from harness.errors import HarnessError, did_you_mean
from harness.tasks import Example, Task
from harness.tasks.data import load_examples, with_data_overrides
from harness.tasks.splits import dev_size_for, split_dev


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


def prepare(config: Config, train: bool = True) -> Workload:
    """Resolve tasks and metrics through the plugins and load every split; fail fast on bad input."""
    pm = plugins.make_plugin_manager(extra=config.plugins)
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
    test, train_examples, dev = {}, {}, {}
    for task in tasks:
        test_examples = load_examples(task.test, task, "test")
        test[task.name] = test_examples[: config.eval.limit] if config.eval.limit else test_examples
        if train and task.train is not None and (not weights or task.name in weights):
            examples = load_examples(task.train, task, "train")
            dev_source = getattr(task, "dev", None)
            if dev_source is not None:  # a task with its own dev split
                dev[task.name] = load_examples(dev_source, task, "dev")[: config.train.dev_size]
            else:  # carved from train (seeded), never from test
                size = dev_size_for(len(examples), config.train.dev_size)
                examples, dev[task.name] = split_dev(examples, size, config.seed)
            train_examples[task.name] = examples
    for name in weights:
        if name not in train_examples:
            raise HarnessError(f"config: train_tasks names {name!r}, which has no training data")
    if train and not train_examples:
        raise HarnessError("config: none of the selected tasks has training data")
    return Workload(
        tasks,
        {t.name: registry[t.name].source for t in tasks},
        test,
        train_examples,
        metric_registry,
        dev={name: examples for name, examples in dev.items() if examples},
        train_weights={name: weights.get(name, 1.0) for name in train_examples},
        presets=plugins.presets(pm),
    )
