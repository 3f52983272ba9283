"""Plugin discovery and the registries built from it.

Plugins come from four places, in this order:

1. the built-in plugins of harness itself (``DEFAULT_PLUGINS``: metrics and presets),
2. installed packages that declare an entry point in the ``harness`` group
   (skipped when ``HARNESS_DISABLE_PLUGIN_AUTOLOAD`` is set),
3. ``*.py`` files in the built-in plugin folder (the built-in tasks, see
   :mod:`harness.builtin`) and in the ``plugins/`` folder of the current working directory,
4. explicit ``--plugin PATH_OR_MODULE`` arguments.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pluggy

from harness import hookspecs
from harness.builtin import plugins_dir
from harness.errors import HarnessError, did_you_mean, unknown_name

DEFAULT_PLUGINS = ("harness.metrics.builtin", "harness.models.presets")
ENTRY_POINT_GROUP = "harness"
AUTOLOAD_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"


def make_plugin_manager(
    extra: Sequence[str] = (), plugin_dirs: Sequence[Path] | None = None, entry_points: bool = True
) -> pluggy.PluginManager:
    """Build a plugin manager with every plugin registered.

    :param extra: ``--plugin`` values: a path to a ``.py`` file or a dotted module name.
    :param plugin_dirs: folders whose ``*.py`` files are plugins; defaults to the built-in
        ``plugins/`` folder and ``./plugins``.
    :param entry_points: load installed plugins (entry-point group ``harness``).
    """
    pm = pluggy.PluginManager("harness")
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if entry_points and not os.environ.get(AUTOLOAD_ENV):
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise HarnessError(
                f"an installed plugin (entry-point group {ENTRY_POINT_GROUP!r}) failed to load: "
                f"{type(exc).__name__}: {exc}; set {AUTOLOAD_ENV}=1 to skip installed plugins"
            ) from exc
    dirs = default_plugin_dirs() if plugin_dirs is None else plugin_dirs
    for directory in dirs:
        for path in sorted(Path(directory).glob("*.py")):
            if not path.name.startswith("_"):
                _register(pm, load_plugin_file(path), name=str(path.resolve()))
    for spec in extra:
        module = load_plugin_file(Path(spec)) if _looks_like_path(spec) else _import_module(spec)
        _register(pm, module, name=getattr(module, "__file__", None) or spec)
    _check_pending(pm)
    return pm


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


def _register(pm: pluggy.PluginManager, module: ModuleType, name: str) -> None:
    if pm.get_plugin(name) is None and not pm.is_registered(module):
        try:
            pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise HarnessError(f"{_source_name(name)}: invalid plugin: {exc}") from None


@dataclass(frozen=True)
class Registered:
    """A contributed item and the plugin it came from."""

    item: object
    source: str


def _collect(pm: pluggy.PluginManager, hook_name: str, kind: str) -> dict[str, Registered]:
    found: dict[str, Registered] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order (pluggy calls them in reverse)
        for item in impl.function() or []:
            source = _source_name(impl.plugin_name)
            if item.name in found:
                raise HarnessError(
                    f"{kind} {item.name!r} is registered twice: by {found[item.name].source} and by {source}"
                )
            found[item.name] = Registered(item, source)
    return found


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
    return _collect(pm, "harness_tasks", "task")


def metrics(pm: pluggy.PluginManager) -> dict[str, Registered]:
    """All registered metrics by name."""
    return _collect(pm, "harness_metrics", "metric")


def presets(pm: pluggy.PluginManager) -> dict[str, Registered]:
    """All registered model presets by name."""
    return _collect(pm, "harness_model_presets", "model preset")


def select(registry: dict[str, Registered], names: Iterable[str], kind: str) -> list:
    """The items named, in order; an unknown name raises with a close-match suggestion."""
    chosen = []
    for name in names:
        if name not in registry:
            raise unknown_name(kind, name, registry)
        chosen.append(registry[name].item)
    return chosen
