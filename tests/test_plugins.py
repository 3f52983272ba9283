"""Plugin discovery: built-ins, ./plugins, --plugin, installed entry points; and plugin errors."""

from __future__ import annotations

import importlib.metadata
import inspect
import sys
import textwrap
import uuid
from pathlib import Path

import pluggy
import pytest

from harness import hookspecs, plugins
from harness.builtin import plugins_dir
from harness.errors import HarnessError


def task(name: str) -> dict:
    """A task for ``write_plugin``: echo with exact_match on a data.jsonl next to nothing."""
    return {"name": name, "test": "data.jsonl"}


# --- built-ins ---------------------------------------------------------------------------------


def test_builtin_tasks_are_registered_from_plugins_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the built-ins must not depend on the working directory
    registry = plugins.tasks(plugins.make_plugin_manager())
    assert {"sentiment", "summarization", "translation"} <= set(registry)
    for name in ("sentiment", "summarization", "translation"):
        assert registry[name].source == f"harness.builtin.plugins.{name}"  # named as a module, not a path
        assert (plugins_dir() / f"{name}.py").is_file()
    sentiment = registry["sentiment"].item
    assert sentiment.choices == ("Positive", "Negative")
    assert sentiment.primary_metric == "accuracy"


def test_builtin_metrics_and_presets_registered():
    pm = plugins.make_plugin_manager(plugin_dirs=[])
    metrics = plugins.metrics(pm)
    assert {"accuracy", "macro_f1", "bleu", "chrf", "rougeL"} <= set(metrics)
    assert metrics["accuracy"].source == "harness.metrics.builtin"
    assert "tiny" in plugins.presets(pm)
    assert plugins.tasks(pm) == {}  # no plugin folders: no tasks


# --- ./plugins in the working directory ----------------------------------------------------------


def test_local_plugins_folder_is_discovered(tmp_path, monkeypatch, write_plugin):
    write_plugin(tmp_path / "plugins" / "my_task.py", tasks=[task("local_task")])
    write_plugin(
        tmp_path / "plugins" / "_private.py", tasks=[task("hidden_task")]
    )  # underscore files are skipped
    monkeypatch.chdir(tmp_path)
    registry = plugins.tasks(plugins.make_plugin_manager())
    assert "local_task" in registry
    assert "hidden_task" not in registry
    assert registry["local_task"].source == str(Path("plugins") / "my_task.py")
    assert "sentiment" in registry  # the built-ins are still there


def test_without_local_folder_no_extra_tasks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert set(plugins.tasks(plugins.make_plugin_manager())) == {"sentiment", "summarization", "translation"}


# --- --plugin PATH and --plugin module -----------------------------------------------------------


def test_plugin_by_path(tmp_path, write_plugin):
    path = write_plugin(tmp_path / "elsewhere" / "extra.py", tasks=[task("path_task")])
    registry = plugins.tasks(plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[]))
    assert set(registry) == {"path_task"}
    assert Path(registry["path_task"].source).resolve() == path.resolve()


def test_plugin_by_dotted_module(tmp_path, monkeypatch, write_plugin):
    package = f"pkg_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    write_plugin(tmp_path / package / "tasks_mod.py", tasks=[task("module_task")])
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry = plugins.tasks(plugins.make_plugin_manager(extra=[f"{package}.tasks_mod"], plugin_dirs=[]))
    finally:
        sys.modules.pop(f"{package}.tasks_mod", None)
        sys.modules.pop(package, None)
    assert set(registry) == {"module_task"}
    assert registry["module_task"].source.endswith("tasks_mod.py")


def test_plugin_module_not_importable():
    with pytest.raises(HarnessError, match=r"--plugin no_such_module_xyz: cannot import module"):
        plugins.make_plugin_manager(extra=["no_such_module_xyz"], plugin_dirs=[])


def test_plugin_path_missing(tmp_path):
    missing = tmp_path / "missing.py"
    with pytest.raises(HarnessError, match="plugin file not found") as info:
        plugins.make_plugin_manager(extra=[str(missing)], plugin_dirs=[])
    assert str(missing) in str(info.value)


def test_same_plugin_twice_is_registered_once(tmp_path, monkeypatch, write_plugin):
    path = write_plugin(tmp_path / "plugins" / "once.py", tasks=[task("once_task")])
    monkeypatch.chdir(tmp_path)
    registry = plugins.tasks(plugins.make_plugin_manager(extra=[str(path), "plugins/once.py"]))
    assert "once_task" in registry  # and no "registered twice" error


# --- installed packages (entry-point group "harness") ---------------------------------------------


class FakeEntryPoint:
    def __init__(self, name, group, obj):
        self.name, self.group, self._obj = name, group, obj
        self.loaded = 0

    def load(self):
        self.loaded += 1
        return self._obj


class FakeDist:
    def __init__(self, name, version, entry_points):
        self.metadata = {"name": name, "Name": name}
        self.name = name
        self.version = version
        self.entry_points = entry_points


def _installed_plugin_module(source: str):
    namespace: dict = {}
    exec(compile(source, "<installed plugin>", "exec"), namespace)
    module = type(sys)("fake_installed_plugin")
    module.harness_tasks = namespace["harness_tasks"]
    return module


@pytest.fixture
def fake_installed(monkeypatch, tmp_path, write_plugin):
    source = write_plugin(tmp_path / "installed.py", tasks=[task("installed_task")]).read_text(
        encoding="utf-8"
    )
    module = _installed_plugin_module(source)
    ours = FakeEntryPoint("fake-plugin", "harness", module)
    other = FakeEntryPoint("unrelated", "console_scripts", object())
    dist = FakeDist("harness-fake-plugin", "1.2.3", [other, ours])
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: [dist])
    monkeypatch.delenv(plugins.AUTOLOAD_ENV, raising=False)
    return ours, other, dist


def test_installed_plugin_via_entry_point(fake_installed):
    ours, other, dist = fake_installed
    pm = plugins.make_plugin_manager(plugin_dirs=[])
    registry = plugins.tasks(pm)
    assert set(registry) == {"installed_task"}
    assert registry["installed_task"].source == "fake-plugin"
    assert ours.loaded == 1 and other.loaded == 0  # other groups are not touched
    distinfo = pm.list_plugin_distinfo()
    assert len(distinfo) == 1 and distinfo[0][1].version == "1.2.3"
    assert distinfo[0][1].project_name == "harness-fake-plugin"


def test_autoload_disabled_by_environment(fake_installed, monkeypatch):
    ours, _, _ = fake_installed
    monkeypatch.setenv(plugins.AUTOLOAD_ENV, "1")
    assert plugins.tasks(plugins.make_plugin_manager(plugin_dirs=[])) == {}
    assert ours.loaded == 0


def test_autoload_disabled_by_argument(fake_installed):
    ours, _, _ = fake_installed
    assert plugins.tasks(plugins.make_plugin_manager(plugin_dirs=[], entry_points=False)) == {}
    assert ours.loaded == 0


def test_installed_plugin_that_fails_to_load(monkeypatch):
    class Broken(FakeEntryPoint):
        def load(self):
            raise ImportError("No module named 'gone'")

    dist = FakeDist("broken-dist", "0.1", [Broken("broken", "harness", None)])
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: [dist])
    monkeypatch.delenv(plugins.AUTOLOAD_ENV, raising=False)
    with pytest.raises(
        HarnessError, match=r"installed plugin .*failed to load: ImportError: No module named 'gone'"
    ):
        plugins.make_plugin_manager(plugin_dirs=[])


# --- errors --------------------------------------------------------------------------------------


def test_duplicate_task_names_name_both_sources(tmp_path, write_plugin):
    first = write_plugin(tmp_path / "a" / "first.py", tasks=[task("twin")])
    second = write_plugin(tmp_path / "b" / "second.py", tasks=[task("twin")])
    pm = plugins.make_plugin_manager(extra=[str(first), str(second)], plugin_dirs=[])
    with pytest.raises(HarnessError) as info:
        plugins.tasks(pm)
    message = str(info.value)
    assert "task 'twin' is registered twice" in message
    assert "first.py" in message and "second.py" in message
    assert message.index("first.py") < message.index("second.py")  # registration order


def test_duplicate_of_builtin_task_is_an_error(tmp_path, monkeypatch, write_plugin):
    write_plugin(tmp_path / "plugins" / "mine.py", tasks=[task("sentiment")])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HarnessError, match=r"'sentiment' is registered twice") as info:
        plugins.tasks(plugins.make_plugin_manager())
    assert "by harness.builtin.plugins.sentiment and by plugins/mine.py" in str(info.value)


def test_misspelled_hook_is_caught(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text(
        textwrap.dedent("""
        import harness

        @harness.hookimpl
        def harness_task():
            return []
    """),
        encoding="utf-8",
    )
    with pytest.raises(HarnessError) as info:
        plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[])
    message = str(info.value)
    assert "typo.py" in message
    assert "unknown hook 'harness_task'" in message
    assert "did you mean 'harness_tasks'" in message


def test_hook_with_unknown_argument_is_a_harness_error(tmp_path):
    path = tmp_path / "badargs.py"
    path.write_text(
        textwrap.dedent("""
        import harness

        @harness.hookimpl
        def harness_tasks(config):
            return []
    """),
        encoding="utf-8",
    )
    with pytest.raises(HarnessError, match="badargs.py: invalid plugin"):
        plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[])


def test_plugin_file_that_fails_to_import(tmp_path, write_plugin):
    path = tmp_path / "broken.py"
    path.write_text("import harness\nraise RuntimeError('boom at import')\n", encoding="utf-8")
    with pytest.raises(HarnessError) as info:
        plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[])
    message = str(info.value)
    assert str(path.resolve()) in message
    assert "plugin failed to import: RuntimeError: boom at import" in message
    # a failed import leaves nothing behind: fixing the file makes it load
    write_plugin(path, tasks=[task("fixed_task")])
    registry = plugins.tasks(plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[]))
    assert set(registry) == {"fixed_task"}


def test_syntax_error_in_local_plugin_names_file(tmp_path, monkeypatch):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "bad.py").write_text("def oops(:\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HarnessError, match=r"bad\.py: plugin failed to import: SyntaxError"):
        plugins.make_plugin_manager()


def test_plugin_managers_are_independent(tmp_path, write_plugin):
    path = write_plugin(tmp_path / "solo.py", tasks=[task("solo_task")])
    with_plugin = plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[])
    without = plugins.make_plugin_manager(plugin_dirs=[])
    assert with_plugin is not without
    assert "solo_task" in plugins.tasks(with_plugin)
    assert "solo_task" not in plugins.tasks(without)
    again = plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[])
    assert set(plugins.tasks(again)) == {"solo_task"}  # no "registered twice" from a shared registry


def test_select_unknown_name_suggests():
    registry = {"sentiment": plugins.Registered(object(), "x")}
    with pytest.raises(HarnessError, match=r"unknown task 'sentimnet' \(did you mean 'sentiment'\?\)"):
        plugins.select(registry, ["sentimnet"], "task")


# --- meta ----------------------------------------------------------------------------------------


def test_every_hookspec_is_documented_with_an_example():
    marker = pluggy.HookspecMarker("harness").project_name
    specs = [
        (name, fn)
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and hasattr(fn, f"{marker}_spec")
    ]
    assert {name for name, _ in specs} >= {"harness_tasks", "harness_metrics", "harness_model_presets"}
    for name, fn in specs:
        assert fn.__doc__ and "Example" in fn.__doc__, f"hookspec {name} has no Example in its docstring"
        assert "@harness.hookimpl" in fn.__doc__, name


# --- every hook result is checked ------------------------------------------------------------------


def _hook_plugin(tmp_path, body: str, hook: str = "harness_tasks", name: str = "hooky") -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(
        "import harness\nfrom harness import DataSource, Metric, MetricResult, Task\n\n\n"
        f"@harness.hookimpl\ndef {hook}():\n" + textwrap.indent(textwrap.dedent(body), "    "),
        encoding="utf-8",
    )
    return path


def _one_task(name: str) -> str:
    task = f"Task(name={name!r}, instruction='x', test=DataSource('t.jsonl'), metrics=('exact_match',))"
    return f"return [{task}]\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("raise KeyError('oops')\n", "harness_tasks() raised KeyError: 'oops'"),
        ("return Task\n", "harness_tasks() must return a list of Task, got type"),
        ("return ['sentiment']\n", "must return a list of Task, but one item is str 'sentiment'"),
        (_one_task(''), "task name '' is not valid"),
        (_one_task('../x'), "task name '../x' is not valid"),
        (_one_task('a.b'), "task name 'a.b' is not valid"),
    ],
)  # fmt: skip
def test_bad_task_hook_results_are_one_line_naming_the_plugin(tmp_path, body, message):
    path = _hook_plugin(tmp_path, body)
    pm = plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[])
    with pytest.raises(HarnessError) as info:
        plugins.tasks(pm)
    text = str(info.value)
    assert text.startswith(f"plugin {plugins._source_name(str(path))}: ") and message in text
    assert "\n" not in text


def test_bad_metric_and_preset_hooks(tmp_path):
    pm = plugins.make_plugin_manager(extra=[str(_hook_plugin(tmp_path, "return {}\n", "harness_metrics"))],
                                     plugin_dirs=[])  # fmt: skip
    with pytest.raises(HarnessError, match=r"harness_metrics\(\) must return a list of Metric, got dict"):
        plugins.metrics(pm)
    path = tmp_path / "p2" / "presets.py"
    path.parent.mkdir()
    path.write_text("import harness\n\n@harness.hookimpl\ndef harness_model_presets():\n    return [1]\n")
    with pytest.raises(HarnessError, match="must return a list of ModelPreset, but one item is int 1"):
        plugins.presets(plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[]))


def test_hook_that_raises_is_exit_2_with_traceback_only_under_debug(tmp_path, capsys):
    from harness.cli import main

    path = _hook_plugin(tmp_path, "raise RuntimeError('broken hook')\n")
    assert main(["tasks", "list", "--plugin", str(path)]) == 2
    err = capsys.readouterr().err
    assert "harness_tasks() raised RuntimeError: broken hook" in err and "Traceback" not in err
    assert main(["tasks", "list", "--plugin", str(path), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_task_files_hook_must_return_absolute_existing_paths(tmp_path):
    for i, (body, message) in enumerate((
        ("return 'tasks'\n", "must return a list of paths, got str"),
        ("return ['tasks']\n", "returned the relative path 'tasks'"),
        (f"return [{str(tmp_path / 'nope')!r}]\n", "which does not exist"),
    )):  # fmt: skip
        path = _hook_plugin(tmp_path, body, "harness_task_files", name=f"files{i}")
        with pytest.raises(HarnessError, match=message):
            plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[])


# --- a custom metric that crashes or returns the wrong thing ---------------------------------------


def _metric_plugin(tmp_path, compute_body: str) -> Path:
    path = tmp_path / "mymetric.py"
    path.write_text(
        "import harness\nfrom harness import Metric, MetricResult\n\n\n"
        "def compute(predictions, references):\n" + textwrap.indent(compute_body, "    ") + "\n\n"
        "@harness.hookimpl\ndef harness_metrics():\n    return [Metric('norm_em', compute=compute)]\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return references[0].lower()", "failed: AttributeError: 'tuple' object has no attribute 'lower'"),
        ("return 0.5", "returned float, not a MetricResult"),
        ("return MetricResult(score=1.0, per_example=[1.0])", "MetricResult.per_example has 1 entries for 2"),
        ("return MetricResult(score='high')", "MetricResult.score is 'high', not a number"),
    ],
)
def test_crashing_metric_names_metric_and_plugin(tmp_path, body, message):
    path = _metric_plugin(tmp_path, body)
    metric = plugins.metrics(plugins.make_plugin_manager(extra=[str(path)], plugin_dirs=[]))["norm_em"].item
    with pytest.raises(HarnessError) as info:
        metric.compute(["a", "b"], [("A",), ("b",)])
    assert str(info.value).startswith(f"metric 'norm_em' (from {plugins._source_name(str(path))})")
    assert message in str(info.value)
    sys.modules.pop(next(n for n in list(sys.modules) if n.startswith("harness_plugin_mymetric_")), None)


def test_checked_metric_keeps_the_contract(tmp_path):
    from harness.evaluation.cache import metric_material
    from harness.metrics import builtin

    metrics = plugins.metrics(plugins.make_plugin_manager(plugin_dirs=[]))
    for metric in builtin.harness_metrics():  # the baseline cache sees the metric's own function
        assert metric_material(metrics[metric.name].item) == metric_material(metric)
    accuracy = metrics["accuracy"].item
    assert accuracy.binary and accuracy.higher_is_better and accuracy.scale == 1.0
    result = accuracy.compute(["a", "b"], [("a",), ("c",)])
    assert result.score == 0.5 and result.per_example == [1.0, 0.0]


# --- harness plugins: source and version -----------------------------------------------------------


def test_plugins_listing_shows_source_and_version(tmp_path, monkeypatch, write_plugin):
    from harness import __version__

    write_plugin(tmp_path / "plugins" / "mine.py", tasks=[task("mine")])
    (tmp_path / "plugins" / "mine.py").write_text(
        '__version__ = "1.2.3"\n' + (tmp_path / "plugins" / "mine.py").read_text(), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    rows = {
        name: (source, version)
        for name, source, version, _ in plugins.describe(plugins.make_plugin_manager())
    }
    assert rows["harness.builtin.plugins.sentiment"] == ("built-in", __version__)
    assert rows[str(Path("plugins") / "mine.py")] == ("plugins folder", "1.2.3")
