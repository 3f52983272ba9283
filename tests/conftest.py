"""The suite's one set of fixtures and helpers, and its isolation.

Isolation (automatic, for every test):

* ``HARNESS_CACHE_DIR``, ``HF_HOME`` and Hugging Face's other cache variables point into one
  temporary folder for the session (whatever the caller had set), with the Hub, datasets,
  evaluate and transformers offline: the suite never reads or writes the user's caches and
  never touches the network. Set before collection, so that libraries reading them at import
  and ``harness`` subprocesses see them too.
* Installed plugins are not auto-loaded (``HARNESS_DISABLE_PLUGIN_AUTOLOAD=1``; the tests of
  auto-loading remove it themselves), and every test runs in its own temporary working
  directory, so neither a ``./plugins`` folder nor an installed plugin leaks into a run. The
  built-in tasks do not depend on either (``harness.builtin.plugins_dir()``).
* torch's thread count and the padding/truncation sides of the tokenizers handed out here are
  restored after each test.

Building blocks (fixtures; the callable ones are factories):

* ``tiny_llama(**config)`` / ``tiny_gpt2(**config)``: a random model built in the test, with a
  fresh copy of the suite's tokenizer (byte-level BPE trained once per session on the built-in
  tasks' texts, as the ``tiny`` preset's is); ``tiny_model(config_class, model_class, **config)``:
  the same for any architecture, by class name; ``tiny_model_dir``: a small random Llama saved
  once per session, for code that loads a model from disk (training, ``harness run``);
* ``examples(n)``, ``train_config(**train)``: fine-tuning inputs;
* ``write_jsonl``, ``write_config`` (a TOML config file from a dict), ``write_plugin`` (a plugin
  file registering tasks and presets);
* ``echo_plugin(root)``: a plugin with one small "echo" task and its data;
* ``run_config(root, plugin)``: a small run's Config (the small Llama, CPU, outputs under root);
* ``run_harness(*args)`` / ``start_harness(*args)``: the ``harness`` CLI in a subprocess;
* ``shared_data``: the real data sets in ``../shared/data`` (skipped when absent, a failure on CI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
AUTOLOAD_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"  # harness.plugins.AUTOLOAD_ENV

# The small random Llama of ``tiny_model_dir`` (what training and ``harness run`` tests load).
# Init range 0.1: at LlamaConfig's 0.02 its greedy output is the same for every prompt. The head
# stays untied (the default): a random tied head mostly repeats the prompt's last token.
SMALL_LLAMA = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "initializer_range": 0.1,
}


# --------------------------------------------------------------------------------- isolation

# Cache locations that would override HF_HOME if the caller had set them.
_HF_CACHE_VARIABLES = (
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "TRANSFORMERS_CACHE",
    "HF_DATASETS_CACHE",
    "HF_EVALUATE_CACHE",
    "HF_MODULES_CACHE",
    "HF_ASSETS_CACHE",
    "HF_XET_CACHE",
    "HF_TOKEN_PATH",
)
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE")
_SAVED_ENVIRONMENT: dict[str, str | None] = {}
_SESSION_DIR: list[Path] = []


def pytest_configure(config):
    """Point every cache at a fresh session folder and go offline, before any test module (and
    so huggingface_hub, which reads HF_HOME at import) is imported."""
    root = Path(tempfile.mkdtemp(prefix="harness-tests-"))
    _SESSION_DIR.append(root)
    settings: dict[str, str | None] = {
        "HARNESS_CACHE_DIR": str(root / "harness-cache"),
        "HF_HOME": str(root / "hf-home"),
        AUTOLOAD_ENV: "1",
        **dict.fromkeys(_OFFLINE_VARIABLES, "1"),
        **dict.fromkeys(_HF_CACHE_VARIABLES),
    }
    for name, value in settings.items():
        _SAVED_ENVIRONMENT.setdefault(name, os.environ.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_unconfigure(config):
    for name, value in _SAVED_ENVIRONMENT.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for root in _SESSION_DIR:
        shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """``gpu``-marked tests are skipped where torch sees no CUDA device."""
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
        for item in gpu:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _session_workdir(tmp_path_factory):
    """A neutral working directory for module- and session-scoped fixtures (an in-process run
    built once per module), before the per-test one below takes over."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(autouse=True)
def _test_workdir(tmp_path, monkeypatch):
    """Each test runs in its own temporary directory: no ``./plugins`` of the repository or of
    another test is discovered, and anything written to a relative path lands there."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


@pytest.fixture(autouse=True)
def _restore_torch_threads(_torch_threads):
    """Tests (and in-process runs, ``configure_threads``) change torch's thread count: put the
    session's value back after each one."""
    yield
    import torch

    if torch.get_num_threads() != _torch_threads:
        torch.set_num_threads(_torch_threads)


_TOKENIZERS: list[weakref.ref] = []  # every tokenizer the factories below handed out


@pytest.fixture(autouse=True)
def _restore_tokenizer_sides():
    """A tokenizer shared by the tests of a module gets back its padding and truncation sides
    after each test (``evaluation`` sets ``padding_side``; so do some tests)."""
    saved = [(tok, tok.padding_side, tok.truncation_side) for tok in (ref() for ref in _TOKENIZERS) if tok]
    yield
    for tok, padding, truncation in saved:
        tok.padding_side, tok.truncation_side = padding, truncation
    _TOKENIZERS[:] = [ref for ref in _TOKENIZERS if ref() is not None]


# --------------------------------------------------------------------------------- shared data


def _shared_folder(path: Path) -> Path:
    """``path`` when it is a folder; else skipped, or failed under CI (``CI`` set, as CI services
    do), where a missing folder means the checks on real data silently did not run."""
    if path.is_dir():
        return path
    message = f"shared data folder not found: {path}"
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI is set: the tests on the real data sets must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets in ``../shared/data``."""
    return _shared_folder(SHARED_DATA)


# --------------------------------------------------------------------------------- tiny models


@pytest.fixture(scope="session")
def _tokenizer_dir(tmp_path_factory) -> Path:
    """The ``tiny`` preset's tokenizer (byte-level BPE on the built-in tasks' texts), trained
    once and saved; every model factory call loads a fresh copy."""
    from harness.models.presets import TINY, corpus_texts, train_tokenizer

    directory = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(corpus_texts(), TINY).save_pretrained(directory)
    return directory


def _load_tokenizer(directory: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    _TOKENIZERS.append(weakref.ref(tokenizer))
    return tokenizer


def _random_model(config_class, model_class, tokenizer, seed: int, config: dict):
    """``model_class(config_class(**config))`` in eval mode, initialised from ``seed`` without
    touching the caller's RNG state, with the tokenizer's special ids."""
    import torch

    special = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_class(config_class(**{**special, **config})).eval()


@pytest.fixture(scope="session")
def tiny_llama(_tokenizer_dir) -> Callable:
    """``tiny_llama(seed=0, **config) -> (model, tokenizer)``: a random ``LlamaForCausalLM``
    (2 layers of width 64, grouped-query attention: 4 query and 2 key/value heads; ``config``
    overrides any ``LlamaConfig`` field) in eval mode, and a fresh tokenizer. Milliseconds."""

    def build(seed: int = 0, **config):
        from transformers import LlamaConfig, LlamaForCausalLM

        tokenizer = _load_tokenizer(_tokenizer_dir)
        defaults = {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 512,
        }
        model = _random_model(LlamaConfig, LlamaForCausalLM, tokenizer, seed, {**defaults, **config})
        return model, tokenizer

    return build


@pytest.fixture(scope="session")
def tiny_gpt2(_tokenizer_dir) -> Callable:
    """``tiny_gpt2(seed=0, **config) -> (model, tokenizer)``: a random GPT-2 (absolute position
    embeddings, tied head; 2 layers of width 64) with init range 0.2, as its greedy outputs at
    the default 0.02 are nearly all the same few tokens."""

    def build(seed: int = 0, **config):
        from transformers import GPT2Config, GPT2LMHeadModel

        tokenizer = _load_tokenizer(_tokenizer_dir)
        defaults = {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 512, "initializer_range": 0.2}
        model = _random_model(GPT2Config, GPT2LMHeadModel, tokenizer, seed, {**defaults, **config})
        return model, tokenizer

    return build


@pytest.fixture(scope="session")
def tiny_model(_tokenizer_dir) -> Callable:
    """``tiny_model(config_class, model_class, seed=0, **config) -> (model, tokenizer)``: a random
    model of any architecture transformers ships, named by its classes (``"Qwen3MoeConfig"``,
    ``"Qwen3MoeForCausalLM"``), with the suite's tokenizer's vocabulary and special ids, init
    range 0.2 (varied greedy output) unless ``config`` sets it. Milliseconds at width 32."""

    def build(config_class: str, model_class: str, seed: int = 0, **config):
        import transformers

        tokenizer = _load_tokenizer(_tokenizer_dir)
        classes = getattr(transformers, config_class), getattr(transformers, model_class)
        model = _random_model(*classes, tokenizer, seed, {"initializer_range": 0.2, **config})
        return model, tokenizer

    return build


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_llama, tmp_path_factory) -> Path:
    """A small random Llama (``SMALL_LLAMA``) and its tokenizer, saved once per session: what
    ``load_model``, ``fine_tune`` and ``harness run`` (``model = "<this path>"``) load. Read only."""
    model, tokenizer = tiny_llama(**SMALL_LLAMA)
    directory = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture
def load_tiny(tiny_model_dir) -> Callable:
    """``load_tiny() -> LoadedModel``: ``tiny_model_dir`` loaded afresh by ``load_model`` on the
    CPU, with one torch thread (restored after the test)."""
    from harness.models import configure_threads, load_model

    def load():
        configure_threads(1)
        return load_model(str(tiny_model_dir), {}, "cpu")

    return load


# --------------------------------------------------------------------------------- fine-tuning inputs


@pytest.fixture(scope="session")
def examples() -> Callable:
    """``examples(n, name="t", outputs=None)``: ``n`` "Repeat." examples with ids ``{name}-{i}``,
    inputs of 1-5 words and outputs of 1-3 words (varied, so padded batches have pads), or the
    labels ``outputs`` in turn."""
    from harness.tasks import Example

    def make(n: int, name: str = "t", outputs: tuple[str, ...] | None = None) -> list:
        return [
            Example(
                f"{name}-{i}",
                "Repeat.",
                " ".join(["word"] * (1 + i % 5)),
                outputs[i % len(outputs)] if outputs else " ".join([f"w{i % 7}"] * (1 + i % 3)),
            )
            for i in range(n)
        ]

    return make


@pytest.fixture(scope="session")
def train_config() -> Callable:
    """``train_config(method="full", **train) -> Config``: seed 0, 2 epochs of batches of 8,
    a loss logged every step, learning rate 3e-3 (``train`` overrides ``TrainConfig`` fields),
    and no LoRA dropout (its random masks depend on the batch's shape)."""
    from harness.config import Config, LoraConfig, TrainConfig

    def make(method: str = "full", **train) -> Config:
        train = {"epochs": 2, "batch_size": 8, "logging_steps": 1, "learning_rate": 3e-3, **train}
        return Config(method=method, seed=0, train=TrainConfig(**train), lora=LoraConfig(dropout=0.0))

    return make


# --------------------------------------------------------------------------------- files


def _write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="session")
def write_jsonl() -> Callable[[Path, Iterable[dict]], Path]:
    """``write_jsonl(path, rows)`` writes one JSON object per line and returns ``path``."""
    return _write_jsonl


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)  # JSON escapes are TOML basic-string escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(_toml_value, value)) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _toml_table(table: dict, prefix: str, lines: list[str]) -> None:
    scalars = {key: value for key, value in table.items() if not isinstance(value, dict)}
    if prefix and scalars:
        lines.append(f"[{prefix}]")
    lines.extend(f"{key} = {_toml_value(value)}" for key, value in scalars.items())
    for key, value in table.items():
        if isinstance(value, dict):
            _toml_table(value, f"{prefix}.{key}" if prefix else key, lines)


@pytest.fixture(scope="session")
def write_config() -> Callable[[Path, dict], Path]:
    """``write_config(path, settings)`` writes ``settings`` as a harness TOML config: nested
    dicts become tables (``{"train": {"epochs": 2}}`` is ``[train]`` / ``epochs = 2``)."""

    def write(path: Path, settings: dict) -> Path:
        lines: list[str] = []
        _toml_table(settings, "", lines)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


def _task_call(fields: dict) -> str:
    fields = {"instruction": "Echo.", "metrics": ("exact_match",), **fields}
    arguments = [
        f"{key}=DataSource({str(value)!r})" if key in ("test", "train") else f"{key}={value!r}"
        for key, value in fields.items()
    ]
    return f"Task({', '.join(arguments)})"


@pytest.fixture(scope="session")
def write_plugin() -> Callable:
    """``write_plugin(path, tasks=(), presets=())`` writes a plugin file (a ``harness_tasks``
    hook returning one ``Task`` per dict of its keyword arguments, ``test``/``train`` given as
    paths, instruction "Echo." and metric exact_match unless given; a ``harness_model_presets``
    hook returning ``tiny_preset(**p)`` for each dict ``p`` of ``presets``) and returns ``path``."""

    def write(path: Path, tasks: Iterable[dict] = (), presets: Iterable[dict] = ()) -> Path:
        tasks, presets = list(tasks), list(presets)
        lines = ["import harness", "from harness import DataSource, Task"]
        if presets:
            lines.append("from harness.models.presets import tiny_preset")
        if tasks:
            lines += ["", "", "@harness.hookimpl", "def harness_tasks():", "    return ["]
            lines += [f"        {_task_call(task)}," for task in tasks]
            lines.append("    ]")
        if presets:
            lines += ["", "", "@harness.hookimpl", "def harness_model_presets():", "    return ["]
            lines += [
                f"        tiny_preset({', '.join(f'{k}={v!r}' for k, v in p.items())})," for p in presets
            ]
            lines.append("    ]")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def echo_plugin(write_jsonl, write_plugin) -> Callable:
    """``echo_plugin(root, n_test=8, n_train=16) -> Path``: a plugin file with one "echo" task
    ("Repeat the input.": ``word i`` -> ``word i``, answers of at most 4 new tokens), its data
    and the plugin written into ``root``."""

    def make(root: Path, n_test: int = 8, n_train: int = 16) -> Path:
        rows = [{"input": f"word {i}", "output": f"word {i}"} for i in range(n_test + n_train)]
        task = {
            "name": "echo",
            "instruction": "Repeat the input.",
            "test": write_jsonl(Path(root) / "test.jsonl", rows[:n_test]),
            "train": write_jsonl(Path(root) / "train.jsonl", rows[n_test:]),
            "max_new_tokens": 4,
        }
        return write_plugin(Path(root) / "echo_task.py", tasks=[task])

    return make


@pytest.fixture(scope="session")
def run_config(tiny_model_dir) -> Callable:
    """``run_config(root, plugin, tasks=("echo",), epochs=1, **changes) -> Config``: a run of the
    suite's small Llama (fully tuned, batches of 8, on the CPU with one thread, no baseline cache)
    on the tasks of ``plugin``, its reports under ``root/reports`` and models under ``root/runs``;
    ``changes`` replace top-level Config fields."""
    from harness.config import Config

    def make(root: Path, plugin: Path, tasks=("echo",), epochs: float = 1, **changes) -> Config:
        settings = {
            "model": str(tiny_model_dir),
            "method": "full",
            "tasks": list(tasks),
            "plugins": [str(plugin)],
            "device": "cpu",
            "threads": 1,
            "output_dir": str(Path(root) / "reports"),
            "models_dir": str(Path(root) / "runs"),
            "cache": False,
        }
        config = Config(**{**settings, **changes})
        config.train.epochs, config.train.batch_size, config.eval.batch_size = epochs, 8, 8
        return config

    return make


# --------------------------------------------------------------------------------- the CLI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _harness_process(args: tuple[str, ...], processes: int) -> subprocess.Popen:
    """``python -m harness.cli ARGS`` (under ``torchrun`` when ``processes`` > 1) in the current
    directory, one torch thread per process, no installed plugins, stdout and stderr merged."""
    env = {**os.environ, AUTOLOAD_ENV: "1", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
        launcher += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    return subprocess.Popen(
        [*launcher, "-m", "harness.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def start_harness() -> Callable[..., subprocess.Popen]:
    """``start_harness(*args, processes=1) -> Popen``: the CLI started in a subprocess (see
    ``run_harness``); killed at the end of the test if still running."""
    started: list[subprocess.Popen] = []

    def start(*args: str, processes: int = 1) -> subprocess.Popen:
        process = _harness_process(args, processes)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture
def run_harness(start_harness) -> Callable[..., str]:
    """``run_harness(*args, processes=1, expect=0, timeout=300) -> output``: ``harness ARGS`` in a
    subprocess (``torchrun --nproc_per_node PROCESSES`` when > 1) that must exit with ``expect``;
    returns its stdout and stderr together."""

    def run(*args: str, processes: int = 1, expect: int = 0, timeout: float = 300) -> str:
        process = start_harness(*args, processes=processes)
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == expect, (
            f"harness {' '.join(map(str, args))}: exit {process.returncode}\n{output}"
        )
        return output

    return run
