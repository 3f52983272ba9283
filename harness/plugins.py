"""Plugin discovery and the registries built from it.

Plugins come from five places, in this order:

1. the built-in plugins of harness itself (``DEFAULT_PLUGINS``: metrics and presets),
2. installed packages that declare an entry point in the ``harness`` group
   (skipped when ``HARNESS_DISABLE_PLUGIN_AUTOLOAD`` is set),
3. ``*.py`` files in the built-in plugin folder (the built-in tasks, see
   :mod:`harness.builtin`) and in the ``plugins/`` folder of the current working directory,
4. explicit ``--plugin PATH_OR_MODULE`` arguments,
5. task files (``*.toml``, :mod:`harness.tasks.declarative`) in ``./tasks/``, in every
   ``--tasks-dir DIR``, and those the plugins above ship (hook ``harness_task_files``).

Every hook result is checked (:func:`_collect`): a hook that raises or returns the wrong thing
is a one-line :class:`HarnessError` naming the plugin and what it returned.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pluggy

from harness import hookspecs
from harness.builtin import plugins_dir
from harness.errors import HarnessError, did_you_mean

DEFAULT_PLUGINS = ("harness.metrics.builtin", "harness.models.presets")
ENTRY_POINT_GROUP = "harness"
AUTOLOAD_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"


def make_plugin_manager(
    extra: Sequence[str] = (),
    plugin_dirs: Sequence[Path] | None = None,
    entry_points: bool = True,
    tasks_dirs: Sequence[str | Path] = (),
) -> pluggy.PluginManager:
    """Build a plugin manager with every plugin registered.

    :param extra: ``--plugin`` values: a path to a ``.py`` file or a dotted module name.
    :param plugin_dirs: folders whose ``*.py`` files are plugins; defaults to the built-in
        ``plugins/`` folder and ``./plugins``.
    :param entry_points: load installed plugins (entry-point group ``harness``).
    :param tasks_dirs: ``--tasks-dir`` folders of ``*.toml`` task files, besides ``./tasks``.
    """
    pm = pluggy.PluginManager("harness")
    pm.add_hookspecs(hookspecs)
    pm.origins = {}  # plugin name -> how it was found, for `harness plugins`
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
        pm.origins[name] = "built-in"
    if entry_points and not os.environ.get(AUTOLOAD_ENV):
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise HarnessError(
                f"an installed plugin (entry-point group {ENTRY_POINT_GROUP!r}) failed to load: "
                f"{type(exc).__name__}: {exc}; set {AUTOLOAD_ENV}=1 to skip installed plugins"
            ) from exc
        for name, _ in pm.list_name_plugin():
            pm.origins.setdefault(name, "installed")
    dirs = default_plugin_dirs() if plugin_dirs is None else plugin_dirs
    for directory in dirs:
        origin = "built-in" if Path(directory).resolve() == plugins_dir() else "plugins folder"
        for path in sorted(Path(directory).glob("*.py")):
            if not path.name.startswith("_"):
                _register(pm, load_plugin_file(path), name=str(path.resolve()), origin=origin)
    for spec in extra:
        module = load_plugin_file(Path(spec)) if _looks_like_path(spec) else _import_module(spec)
        _register(pm, module, name=getattr(module, "__file__", None) or spec, origin="--plugin")
    _check_pending(pm)
    _register_task_files(pm, tasks_dirs)
    return pm


def _register_task_files(pm: pluggy.PluginManager, tasks_dirs: Sequence[str | Path]) -> None:
    """Register every task file: ``./tasks/*.toml``, each ``--tasks-dir``, and those plugins ship."""
    from harness.tasks.declarative import TaskFile, task_files

    found: list[tuple[Path, str]] = []
    local = Path.cwd() / "tasks"
    if local.is_dir():
        found += [(path, "tasks folder") for path in task_files(local)]
    for directory in tasks_dirs:
        if not Path(directory).is_dir():
            raise HarnessError(f"--tasks-dir {directory}: not a folder")
        found += [(path, "--tasks-dir") for path in task_files(Path(directory))]
    for impl in pm.hook.harness_task_files.get_hookimpls():
        source = _source_name(impl.plugin_name)
        for path in _checked_paths(impl, source):
            found += [(p, f"shipped by {source}") for p in (task_files(path) if path.is_dir() else [path])]
    for path, origin in found:
        name = str(path.resolve())
        if pm.get_plugin(name) is None:
            pm.register(TaskFile(path), name=name)
            pm.origins[name] = origin


def _checked_paths(impl, source: str) -> list[Path]:
    result = _call(impl, source)
    if not isinstance(result, (list, tuple)) or not all(isinstance(p, (str, Path)) for p in result):
        raise HarnessError(
            f"plugin {source}: harness_task_files() must return a list of paths, got {_short(result)}"
        )
    paths = [Path(p) for p in result]
    for path in paths:
        if not path.is_absolute():
            raise HarnessError(
                f"plugin {source}: harness_task_files() returned the relative path {str(path)!r}; "
                "return absolute paths, e.g. Path(__file__).parent / 'tasks'"
            )
        if not path.exists():
            raise HarnessError(
                f"plugin {source}: harness_task_files() returned {str(path)!r}, which does not exist"
            )
    return paths


def _check_pending(pm: pluggy.PluginManager) -> None:
    """Like ``pm.check_pending()``, but a misspelled hook is a HarnessError naming the plugin."""
    known = [name for name in vars(hookspecs) if name.startswith("harness_")]
    for name in list(pm.hook.__dict__):
        if name.startswith("_"):
            continue
        hook = getattr(pm.hook, name)
        if hook.has_spec():
            continue
        for impl in hook.get_hookimpls():
            if not impl.optionalhook:
                raise HarnessError(
                    f"{_source_name(impl.plugin_name)}: unknown hook {name!r}"
                    f"{did_you_mean(name, known)}; known hooks: {', '.join(known)}"
                )
    pm.check_pending()


def default_plugin_dirs() -> list[Path]:
    """The built-in plugin folder, then ``./plugins`` when it is a different folder."""
    builtin = plugins_dir()
    if not builtin.is_dir():
        raise HarnessError(f"the built-in task plugins are missing ({builtin}): reinstall harness")
    dirs = [builtin]
    local = Path.cwd() / "plugins"
    if local.is_dir() and local.resolve() != builtin:
        dirs.append(local)
    return dirs


def load_plugin_file(path: Path) -> ModuleType:
    """Import a plugin ``.py`` file under a private module name (never a generic ``plugins``)."""
    path = path.resolve()
    if not path.is_file():
        raise HarnessError(f"{path}: plugin file not found")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    module_name = f"harness_plugin_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise HarnessError(f"{path}: plugin failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise HarnessError(f"--plugin {name}: cannot import module: {exc}") from exc


def _register(pm: pluggy.PluginManager, module: ModuleType, name: str, origin: str) -> None:
    if pm.get_plugin(name) is None and not pm.is_registered(module):
        try:
            pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise HarnessError(f"{_source_name(name)}: invalid plugin: {exc}") from None
        pm.origins[name] = origin


@dataclass(frozen=True)
class Registered:
    """A contributed item and the plugin it came from."""

    item: object
    source: str


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # no dots, slashes, spaces: used in gates and paths


def _collect(pm: pluggy.PluginManager, hook_name: str, kind: str, record: type) -> dict[str, Registered]:
    """Every item the plugins return from ``hook_name``, checked: a list of ``record`` with
    valid, unique names. Raises a one-line :class:`HarnessError` naming the plugin."""
    found: dict[str, Registered] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order (pluggy calls them in reverse)
        source = _source_name(impl.plugin_name)
        result = _call(impl, source)
        if result is None:
            continue
        what = f"plugin {source}: {hook_name}() must return a list of {record.__name__}"
        if not isinstance(result, (list, tuple)):
            raise HarnessError(f"{what}, got {_short(result)}")
        for item in result:
            if not isinstance(item, record):
                raise HarnessError(f"{what}, but one item is {_short(item)}")
            name = item.name
            if not isinstance(name, str) or not NAME.match(name):
                raise HarnessError(
                    f"plugin {source}: {kind} name {name!r} is not valid: use letters, digits, '_' and '-', "
                    "starting with a letter or digit"
                )
            if name in found:
                raise HarnessError(
                    f"{kind} {name!r} is registered twice: by {found[name].source} and by {source}"
                )
            found[name] = Registered(item, source)
    return found


def _call(impl, source: str):
    """Call a hook implementation; anything it raises becomes one line naming the plugin (the
    traceback stays attached for ``--debug``)."""
    try:
        return impl.function()
    except HarnessError:
        raise
    except Exception as exc:
        name = impl.function.__name__
        raise HarnessError(
            f"plugin {source}: {name}() raised {type(exc).__name__}: {_first_line(exc)}"
        ) from exc


def _short(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80] + '...' if len(text) > 80 else text}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def _source_name(plugin_name: str) -> str:
    """Where a plugin came from, for messages and listings: a built-in task plugin as its
    module name (``harness.builtin.plugins.sentiment``), a file relative to the working
    directory where it can be, else as given."""
    path = Path(plugin_name)
    if path.is_absolute() and path.parent == plugins_dir():
        return f"harness.builtin.plugins.{path.stem}"
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return plugin_name


def tasks(pm: pluggy.PluginManager) -> dict[str, Registered]:
    """All registered tasks by name, each with the plugin it came from."""
    from harness.tasks import Task

    return _collect(pm, "harness_tasks", "task", Task)


def metrics(pm: pluggy.PluginManager) -> dict[str, Registered]:
    """All registered metrics by name; each one's ``compute`` is checked
    (:meth:`~harness.metrics.Metric.checked`), so a crash names the metric and its plugin."""
    from harness.metrics import Metric

    found = _collect(pm, "harness_metrics", "metric", Metric)
    return {name: Registered(entry.item.checked(entry.source), entry.source) for name, entry in found.items()}


def backends(pm: pluggy.PluginManager) -> dict[str, Registered]:
    """All prediction backends plugins register, by name (the built-in ``hf`` is not among them)."""
    from harness.models.backend import BackendSpec

    return _collect(pm, "harness_backends", "backend", BackendSpec)


def presets(pm: pluggy.PluginManager) -> dict[str, Registered]:
    """All registered model presets by name."""
    from harness.models.presets import ModelPreset

    return _collect(pm, "harness_model_presets", "model preset", ModelPreset)


WHERE_TASKS_COME_FROM = (
    "tasks come from plugins (./plugins/*.py, --plugin, installed packages) and task files "
    "(./tasks/*.toml, --tasks-dir DIR); see 'harness tasks list'"
)


def select(registry: dict[str, Registered], names: Iterable[str], kind: str) -> list:
    """The items named, in order; an unknown name raises with a close-match suggestion (and,
    for a task, where tasks come from)."""
    chosen = []
    for name in names:
        if name not in registry:
            raise unknown(kind, name, registry)
        chosen.append(registry[name].item)
    return chosen


def unknown(kind: str, name: str, registry: Iterable[str]) -> HarnessError:
    """The error for an unknown name: did-you-mean, the known names, and for a task where
    tasks come from."""
    known = sorted(registry)
    hint = f"; {WHERE_TASKS_COME_FROM}" if kind == "task" else ""
    return HarnessError(
        f"unknown {kind} {name!r}{did_you_mean(name, known)}; known: {', '.join(known) or 'none'}{hint}"
    )


def describe(pm: pluggy.PluginManager) -> list[tuple[str, str, str, list[str]]]:
    """Each loaded plugin as ``(name, source, version, hooks)``: source says how it was found
    (``built-in``, ``installed (dist-name)``, ``plugins folder``, ``--plugin``, ``tasks folder``,
    ``--tasks-dir``, ``shipped by PLUGIN``); version is its distribution's (installed), harness's
    (built-in), or the module's ``__version__`` where it has one."""
    from harness.versions import __version__

    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        origin = getattr(pm, "origins", {}).get(name, "")
        dist = dists.get(id(plugin))
        if dist is not None:
            origin, version = f"installed ({dist.project_name})", str(dist.version)
        elif origin == "built-in":
            version = __version__
        else:
            version = str(getattr(plugin, "__version__", "") or "")
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        rows.append((_source_name(name), origin, version, hooks))
    return rows
