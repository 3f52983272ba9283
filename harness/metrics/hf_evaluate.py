"""Bridge to Hugging Face ``evaluate``: use any ``evaluate`` metric module as a task metric.

A task names such a metric in one of two explicit forms (``task.metrics``):

``evaluate:NAME``
    A module on the Hugging Face Hub, e.g. ``evaluate:exact_match`` or a community module
    ``evaluate:user/metric``. It works where the Hub is reachable, or offline when the module
    is already in the ``evaluate`` modules cache (``HF_HUB_OFFLINE=1`` or
    ``HF_EVALUATE_OFFLINE=1`` make the load use the cache only).
``evaluate-file:PATH``
    A local metric module: a ``.py`` file, or a directory holding ``<dirname>.py``. A relative
    path is resolved against the working directory. Works offline.

Either form may end in ``#KEY`` to choose which entry of the module's result dict is the
score (``evaluate-file:metrics/squad.py#f1``). Without it, a result with a single entry gives
that entry; otherwise the entry named like the module (``{"bleu": ..., "precisions": ...}``
gives ``bleu``); otherwise it is an error listing the keys.

Inputs and outputs:

* ``references``: the **first** reference of each example is passed (one string per
  prediction), which is what most ``evaluate`` metrics declare in their features; metrics
  that take several references per example see only the first.
* ``evaluate`` modules do not declare a direction or scale: a name used directly in a task's
  ``metrics`` is higher-is-better on a 0-1 scale. Declare them where it is not so, in a task
  file (``[evaluate.wer]`` with ``module = "wer"``, ``higher_is_better = false``, ``scale``;
  see :mod:`harness.tasks.declarative`) or in a plugin's ``harness_metrics`` with
  :func:`evaluate_metric` (``evaluate_metric("evaluate:wer", name="wer", higher_is_better=False)``).
* ``per_example`` is ``None``: ``evaluate`` metrics return corpus scores.

``evaluate`` (slow to import) is imported and the module loaded on the first ``compute``,
once per process; names are checked when the task is resolved, so a missing file, a
malformed name or an ambiguous Hub name fails before any model is loaded. A Hub module that
cannot be downloaded fails on the first ``compute``.

Note: ``evaluate.load("x")`` prefers ``./x/x.py`` in the working directory over the Hub
module ``x``, and offline its error says the module "doesn't exist on the Hub". This bridge
refuses Hub names that look like paths and Hub names shadowed by such a local folder, and
always passes local modules to ``evaluate.load`` as an absolute path to the ``.py`` file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.metrics.metric import Metric, MetricResult

HUB_PREFIX = "evaluate:"
FILE_PREFIX = "evaluate-file:"
_TRUE = {"1", "ON", "YES", "TRUE"}


def is_evaluate_name(name: str) -> bool:
    """Whether ``name`` uses the ``evaluate:`` or ``evaluate-file:`` form."""
    return name.startswith((HUB_PREFIX, FILE_PREFIX))


def hub_offline() -> str | None:
    """``HF_HUB_OFFLINE`` or ``HF_EVALUATE_OFFLINE`` when set to a true value (read now), else None."""
    for var in ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE"):
        if os.environ.get(var, "").strip().upper() in _TRUE:
            return var
    return None


def parse(name: str) -> tuple[str, str, str | None]:
    """Split a metric name into (``"hub"`` or ``"file"``, the name or path, the ``#key`` or None)."""
    if name.startswith(FILE_PREFIX):
        kind, rest = "file", name[len(FILE_PREFIX) :]
    elif name.startswith(HUB_PREFIX):
        kind, rest = "hub", name[len(HUB_PREFIX) :]
    else:
        raise HarnessError(
            f"metric {name!r}: not an evaluate metric (use evaluate:NAME or evaluate-file:PATH)"
        )
    spec, sep, key = rest.rpartition("#") if "#" in rest else (rest, "", "")
    spec = spec.strip()
    if sep and not key.strip():
        raise HarnessError(f"metric {name!r}: empty key after '#'")
    if not spec:
        what = "a module path" if kind == "file" else "a module name"
        raise HarnessError(f"metric {name!r}: {what} is missing after {name.split(':', 1)[0]}:")
    return kind, spec, key.strip() or None


def _script_path(name: str, spec: str) -> Path:
    """The absolute ``.py`` file of an ``evaluate-file:`` metric; raises if it is not there."""
    path = Path(spec).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if path.is_dir():
        script = path / f"{path.name}.py"
        if not script.is_file():
            raise HarnessError(
                f"metric {name!r}: directory {path} has no metric module {script.name} "
                f"(a directory must contain <dirname>.py)"
            )
        return script.resolve()
    if not path.is_file():
        raise HarnessError(f"metric {name!r}: metric module file not found: {path}")
    if path.suffix != ".py":
        raise HarnessError(f"metric {name!r}: {path} is not a .py metric module")
    return path.resolve()


def _check_hub_name(name: str, spec: str) -> None:
    looks_like_path = (
        spec.startswith((".", "/", "~"))
        or spec.endswith(".py")
        or "\\" in spec
        or spec.count("/") > 1
        or os.sep in spec.replace("/", "")
    )
    if looks_like_path:
        raise HarnessError(
            f"metric {name!r}: {spec!r} looks like a path, not a Hub module name "
            f"(use evaluate-file:{spec} for a local module)"
        )
    base = spec.split("/")[-1]
    shadow = Path.cwd() / spec / f"{base}.py"
    if shadow.is_file():
        raise HarnessError(
            f"metric {name!r}: ./{spec}/{base}.py exists in the working directory and evaluate would "
            f"load it instead of the Hub module; use evaluate-file:{spec} to load the local one, "
            "or run from another directory"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class _Module:
    """Loads the ``evaluate`` module on first use (thread-safe) and scores with it."""

    def __init__(self, name: str, kind: str, spec: str, key: str | None, script: Path | None):
        self.name, self.kind, self.spec, self.key, self.script = name, kind, spec, key, script
        self._module = None
        self._lock = threading.Lock()

    def load(self):
        with self._lock:
            if self._module is None:
                self._module = self._load()
            return self._module

    def _load(self):
        try:
            import evaluate
        except ImportError as exc:
            raise HarnessError(
                f"metric {self.name!r}: the evaluate package is not installed ({exc})"
            ) from None
        if self.kind == "file":
            if not self.script.is_file():
                raise HarnessError(f"metric {self.name!r}: metric module file not found: {self.script}")
            try:
                return evaluate.load(str(self.script), keep_in_memory=True)
            except Exception as exc:
                raise HarnessError(
                    f"metric {self.name!r}: cannot load {self.script}: {_first_line(exc)}"
                ) from None
        _check_hub_name(self.name, self.spec)
        offline = hub_offline()
        kwargs: dict[str, Any] = {"keep_in_memory": True}
        if offline:
            from evaluate.utils.file_utils import DownloadConfig

            kwargs["download_config"] = DownloadConfig(local_files_only=True)
        try:
            return evaluate.load(self.spec, **kwargs)
        except (FileNotFoundError, ConnectionError, OSError) as exc:
            why = (
                f"offline? {offline}=1 is set and the module is not in the evaluate cache"
                if offline
                else "the Hub is unreachable, or it has no module of that name"
                if isinstance(exc, FileNotFoundError)  # evaluate's own message is misleading offline
                else f"the Hub is unreachable? {_first_line(exc)}"
            )
            raise HarnessError(
                f"metric {self.name!r}: cannot load from the Hugging Face Hub ({why}) "
                "— use evaluate-file:PATH for a local module"
            ) from None
        except Exception as exc:
            raise HarnessError(f"metric {self.name!r}: cannot load: {_first_line(exc)}") from None

    def pick(self, result: Any, module_name: str) -> tuple[str, float]:
        if not isinstance(result, dict) or not result:
            raise HarnessError(f"metric {self.name!r}: the module returned {result!r}, not a dict of scores")
        keys = list(result)
        if self.key is not None:
            if self.key not in result:
                raise HarnessError(
                    f"metric {self.name!r}: result has no key {self.key!r}; keys: {', '.join(map(str, keys))}"
                )
            chosen = self.key
        elif len(keys) == 1:
            chosen = keys[0]
        else:
            candidates = [module_name, self.script.stem if self.script else self.spec.split("/")[-1]]
            chosen = next((c for c in candidates if c in result), None)
            if chosen is None:
                raise HarnessError(
                    f"metric {self.name!r}: the result has several keys ({', '.join(map(str, keys))}); "
                    f"choose one with {self.name}#KEY"
                )
        value = result[chosen]
        try:
            return str(chosen), float(value)
        except (TypeError, ValueError):
            raise HarnessError(
                f"metric {self.name!r}: result[{chosen!r}] is not a number ({type(value).__name__}); "
                f"choose a numeric key with {self.name.split('#')[0]}#KEY"
            ) from None

    def compute(self, predictions: Sequence[str], references: Sequence[Sequence[str]]) -> MetricResult:
        if len(predictions) != len(references):
            raise ValueError(
                f"metric {self.name}: {len(predictions)} predictions but {len(references)} reference lists"
            )
        if not predictions:
            raise HarnessError(f"metric {self.name}: no examples to score")
        first = []
        for i, refs in enumerate(references):
            if isinstance(refs, str):
                raise TypeError(f"metric {self.name}: references[{i}] must be a sequence of strings")
            if len(refs) == 0:
                raise HarnessError(f"metric {self.name}: example {i} has no reference")
            first.append(refs[0])
        module = self.load()
        try:
            result = module.compute(predictions=list(predictions), references=first)
        except HarnessError:
            raise
        except Exception as exc:
            raise HarnessError(f"metric {self.name!r}: compute failed: {_first_line(exc)}") from None
        module_name = str(getattr(module, "name", "") or "")
        chosen, score = self.pick(result, module_name)
        from importlib.metadata import PackageNotFoundError, version

        try:
            package = f"evaluate {version('evaluate')}"
        except PackageNotFoundError:
            package = "evaluate"
        settings = {
            "module": str(self.script) if self.script else self.spec,
            "source": "file" if self.kind == "file" else "hub",
            "key": chosen,
            "references": "first",
            "module_hash": getattr(module, "_hash", None),
            "package": package,
        }
        return MetricResult(score=score, per_example=None, settings=settings)


def evaluate_metric(
    name: str,
    *,
    alias: str = "",
    higher_is_better: bool = True,
    scale: float = 1.0,
    description: str = "",
) -> Metric:
    """A :class:`Metric` for an ``evaluate:NAME[#KEY]`` or ``evaluate-file:PATH[#KEY]`` name.

    :param alias: the metric's name for tasks (default: ``name`` itself).
    :param higher_is_better: the score's direction (``False`` for ``wer``, ``ter``, losses).
    :param scale: the score of a perfect prediction set (100.0 for percentages).

    Checks the name (and, for the file form, that the module file exists) now; imports
    ``evaluate`` and loads the module on the first ``compute``. Raises :class:`HarnessError`.
    """
    description_text = description
    kind, spec, key = parse(name)
    script = None
    if kind == "file":
        script = _script_path(name, spec)
        description = f"evaluate module {script}"
    else:
        _check_hub_name(name, spec)
        description = f"evaluate module {spec!r} from the Hugging Face Hub"
    if key:
        description += f", key {key!r}"
    module = _Module(name, kind, spec, key, script)
    return Metric(
        name=alias or name,
        compute=module.compute,
        higher_is_better=higher_is_better,
        description=description_text or description,
        scale=scale,
    )


def resolve_metrics(names: Sequence[str], registry: dict[str, Metric]) -> dict[str, Metric]:
    """``registry`` plus a :class:`Metric` for every ``evaluate`` name in ``names`` not in it."""
    resolved = dict(registry)
    for name in names:
        if name not in resolved and is_evaluate_name(name):
            resolved[name] = evaluate_metric(name)
    return resolved
