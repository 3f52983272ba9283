"""Bad input, table-driven: each case is a command line and the files it reads, and each must end
with exit code 2, one line on stderr naming the place at fault (file:line, key, plugin, path), no
traceback and nothing written. The lenient inputs (BOM, CRLF, trailing blank lines) are accepted.

Almost every case fails before any model is loaded (``load_model`` refuses here); the model-folder
cases fail in :func:`harness.models.check_model`, which reads files only. The CLI runs in-process.

Where each class is caught:

* data: ``harness/tasks/data.py`` while a split loads (file:line, field; bytes decoded per line);
* config: ``harness/config.py`` (TOML, types) and ``harness/validation.py`` (values, including
  what transformers/peft reject mid-run; ``[data.X]`` tables), at file:line or ``--set``; the
  writability of output_dir/models_dir in ``check_writable`` at the start of the cycle;
* names (tasks, metrics, gates): the plugin registries and ``harness/workload.py``;
* plugins: ``harness/plugins.py`` (import, hooks, duplicates);
* model: ``harness/models/loading.py`` ``check_model`` (folder files, safetensors only, offline Hub);
* resume: ``harness/rundir.py`` ``resumed_config``; cli: ``harness/cli.py`` options as config keys.
"""

from __future__ import annotations

import json
import shlex
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.cli import main

ECHO_PLUGIN = """
import harness
from harness import DataSource, Task


@harness.hookimpl
def harness_tasks():
    return [
        Task(name="echo", instruction="Echo.", test=DataSource("data/test.jsonl"),
             train=DataSource("data/train.jsonl"), metrics=("exact_match",)),
        Task(name="label", instruction="Yes or no?", test=DataSource("data/label.jsonl"),
             metrics=("accuracy",), choices=("yes", "no")),
    ]
"""


def _jsonl(rows) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


BASE_FILES = {
    "plugins/echo.py": ECHO_PLUGIN,
    "data/train.jsonl": _jsonl({"input": f"word {i}", "output": f"word {i}"} for i in range(12)),
    "data/test.jsonl": _jsonl({"input": f"test {i}", "output": f"test {i}"} for i in range(4)),
    "data/label.jsonl": _jsonl(
        {"input": f"is {i} even?", "output": "yes" if i % 2 else "no"} for i in range(4)
    ),
}
GOOD = '{"input": "a", "output": "b"}\n'


def _safetensors(data_bytes: int = 8, cut: int = 0) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [data_bytes // 4], "data_offsets": [0, data_bytes]}})
    blob = struct.pack("<Q", len(header)) + header.encode() + b"\0" * data_bytes
    return blob[: len(blob) - cut]


LLAMA = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
MODEL = {"m/config.json": LLAMA, "m/model.safetensors": _safetensors(), "m/tokenizer.json": "{}"}


def _model(**changes) -> dict:
    """A model folder ``m`` with ``changes`` (file name -> content, None removes it)."""
    files = {**MODEL, **{f"m/{name}": content for name, content in changes.items()}}
    return {name: content for name, content in files.items() if content is not None}


def _state(**changes) -> str:
    state = {"run_id": "r1", "phase": "training", "config": {"tasks": ["echo"]}, **changes}
    return json.dumps({key: value for key, value in state.items() if value is not None})


@dataclass
class Case:
    kind: str  # data | config | names | plugins | model | resume | cli
    id: str
    argv: str
    fragments: tuple[str, ...]
    files: dict = field(default_factory=dict)


CASES: list[Case] = []


def case(kind: str, id: str, argv: str, *fragments: str, files: dict | None = None) -> None:
    CASES.append(Case(kind, id, argv, fragments, files or {}))


# --- data: one split's file, through eval --tasks echo (or label) ---------------------------------
EVAL = "eval --tasks echo --set data.echo.test="
LABEL = "eval --tasks label --set data.label.test="


def data(id: str, content, *fragments: str, name: str = "bad.jsonl", argv: str = EVAL) -> None:
    """A case whose split file ``name`` holds ``content`` (None: no file)."""
    case("data", id, f"{argv}{name}", *fragments, files={} if content is None else {name: content})


data("missing-file", None, "bad.jsonl", "test data file not found")
case("data", "folder-as-file", EVAL + "d.jsonl", "d.jsonl", "is a folder", files={"d.jsonl/x": "1"})
data("unsupported-suffix", GOOD, "bad.xml", "unsupported file type '.xml'", name="bad.xml")
data(
    "truncated-json",
    GOOD + '{"input": "a", "output": "b\n',
    "bad.jsonl:2",
    "Unterminated string",
    "column 26",
)
data("truncated-json-object", GOOD + '{"input": "a"\n', "bad.jsonl:2", "column 14")
data("json-array-line", GOOD + "[1, 2]\n", "bad.jsonl:2", "expected a JSON object, got list")
data("json-string-line", '"text"\n', "bad.jsonl:1", "got str")
data("json-number-line", "3\n", "bad.jsonl:1", "got int")
data("json-trailing-comma", '{"input": "a", "output": "b",}\n', "bad.jsonl:1", "malformed JSON")
data("json-single-quotes", "{'input': 'a', 'output': 'b'}\n", "bad.jsonl:1", "malformed JSON")
data("json-two-objects-one-line", GOOD.strip() + GOOD, "bad.jsonl:1", "Extra data")
data("missing-output", '{"input": "a"}\n', "bad.jsonl:1", "field 'output'", "missing")
data("missing-input", '{"output": "a"}\n', "bad.jsonl:1", "field 'input'", "missing")
data("null-output", '{"input": "a", "output": null}\n', "bad.jsonl:1", "field 'output'", "missing")
data("empty-output", '{"input": "a", "output": ""}\n', "bad.jsonl:1", "field 'output'", "is empty")
data("blank-input", '{"input": "   ", "output": "b"}\n', "bad.jsonl:1", "field 'input'", "is empty")
data("list-output", '{"input": "a", "output": ["b"]}\n', "bad.jsonl:1", "expected text, got list")
data("dict-input", '{"input": {"x": 1}, "output": "b"}\n', "bad.jsonl:1", "expected text, got dict")
data("bool-output", '{"input": "a", "output": true}\n', "bad.jsonl:1", "expected text, got bool")
data(
    "list-instruction",
    '{"instruction": [], "input": "a", "output": "b"}\n',
    "field 'instruction'",
    "got list",
)
data("list-id", '{"id": [1], "input": "a", "output": "b"}\n', "bad.jsonl:1", "field 'id'")
data("non-utf8-byte", (GOOD * 2).encode() + b'{"input": "caf\xe9"}\n', "bad.jsonl:3", "not UTF-8", "0xe9")
data("latin1-file", b'{"input": "na\xefve", "output": "b"}\n', "bad.jsonl:1", "not UTF-8", "column 14")
data("utf16-file", GOOD.encode("utf-16"), "bad.jsonl:1", "not UTF-8", "0xff")
data("gzip-bytes", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", "bad.jsonl:1", "not UTF-8")
data("empty-file", "", "bad.jsonl", "test dataset is empty")
data("blank-lines-only", "\n\n  \n", "bad.jsonl", "dataset is empty")
data("bom-only", b"\xef\xbb\xbf", "bad.jsonl", "dataset is empty")
data("nul-bytes", "\0\0\0\n", "bad.jsonl:1", "malformed JSON")
data("bad-line-after-crlf", GOOD.replace("\n", "\r\n") + "{oops}\r\n", "bad.jsonl:2", "malformed JSON")
data(
    "label-outside-choices",
    '{"input": "a", "output": "maybe"}\n',
    "bad.jsonl:1",
    "not one of the task's choices",
    argv=LABEL,
)
data(
    "label-not-in-mapping",
    '{"input": "a", "output": "2"}\n',
    "bad.jsonl:1",
    "not in the label mapping",
    argv='eval --tasks label --set \'data.label.test.labels={1="yes",0="no"}\' --set data.label.test.path=',
)
data(
    "mapping-to-outside-choices",
    '{"input": "a", "output": "1"}\n',
    "not one of the task's choices",
    argv="eval --tasks label --set 'data.label.test.labels={1=\"si\"}' --set data.label.test.path=",
)
data(
    "mapped-column-absent",
    GOOD,
    "bad.jsonl:1",
    "field 'text'",
    "missing",
    argv="eval --tasks echo --set 'data.echo.test.fields={input=\"text\"}' --set data.echo.test.path=",
)
data(
    "references-not-list",
    '{"input": "a", "output": "b", "refs": "b"}\n',
    "field 'refs'",
    "list of strings",
    argv="eval --tasks echo --set 'data.echo.test.fields={references=\"refs\"}' --set data.echo.test.path=",
)
data(
    "references-empty",
    '{"input": "a", "output": "b", "refs": []}\n',
    "bad.jsonl:1",
    "field 'refs'",
    argv="eval --tasks echo --set 'data.echo.test.fields={references=\"refs\"}' --set data.echo.test.path=",
)
data("csv-column-count", "input,output\na,b\nc,d,e\n", "bad.csv:3", "expected 2 columns", name="bad.csv")
data(
    "csv-header-without-input", "text,output\na,b\n", "bad.csv:2", "field 'input'", "missing", name="bad.csv"
)
data("csv-non-utf8", b"input,output\na,b\nc\xff,d\n", "bad.csv:3", "not UTF-8", name="bad.csv")
data("csv-empty", "", "bad.csv", "dataset is empty", name="bad.csv")
data("csv-header-only", "input,output\n", "bad.csv", "dataset is empty", name="bad.csv")
data("csv-empty-input-cell", "input,output\n,b\n", "bad.csv:2", "field 'input'", "is empty", name="bad.csv")
data(
    "csv-columns-mismatch",
    "a,b\n",
    "bad.csv:1",
    "expected 3 columns",
    name="bad.csv",
    argv="eval --tasks echo --set 'data.echo.test.columns=\"input,output,extra\"' --set data.echo.test.path=",
)
data("tsv-column-count", "input\toutput\na\tb\tc\n", "bad.tsv:2", "expected 2 columns", name="bad.tsv")
data("tsv-non-utf8", b"input\toutput\n\x80\tb\n", "bad.tsv:2", "not UTF-8", name="bad.tsv")
data("tsv-empty-output", "input\toutput\na\t \n", "bad.tsv:2", "field 'output'", "is empty", name="bad.tsv")
case(
    "data",
    "bad-train-line",
    "run --tasks echo --set data.echo.train=bad.jsonl",
    "bad.jsonl:2",
    "malformed JSON",
    files={"bad.jsonl": GOOD + "{\n"},
)
case(
    "data",
    "missing-train-file",
    "run --tasks echo --set data.echo.train=nope.jsonl",
    "nope.jsonl",
    "train data file not found",
)

# --- config: the file, --set, and every value transformers/peft would reject later ----------------
TOML = "eval --tasks echo -c c.toml"


def toml(id: str, text, *fragments: str, argv: str = TOML) -> None:
    case("config", id, argv, *fragments, files={"c.toml": text})


def bad_set(id: str, item: str, *fragments: str, command: str = "run --tasks echo") -> None:
    case("config", id, f"{command} --set {shlex.quote(item)}", f"--set {item!r}", *fragments)


toml(
    "unknown-key",
    'model = "tiny"\nmodle = "x"\n',
    "c.toml:2",
    "unknown config key 'modle'",
    "did you mean 'model'",
)
toml("unknown-nested-key", "[train]\nepocs = 3\n", "c.toml:2", "'train.epocs'", "did you mean 'epochs'")
toml(
    "nested-wrong-type", '\n[train]\nbatch_size = "8"\n', "c.toml:3", "'train.batch_size' must be an integer"
)
toml("dotted-key-wrong-type", 'train.epochs = "x"\n', "c.toml:1", "'train.epochs' must be a number")
toml("section-as-scalar", "train = 3\n", "c.toml:1", "'train' must be a table")
toml("syntax-error", "model = \n", "c.toml", "invalid TOML")
toml("duplicate-key", "seed = 1\nseed = 2\n", "c.toml", "invalid TOML")
toml("non-utf8", b'model = "tiny"\n# caf\xe9\n', "c.toml:2", "not UTF-8", "0xe9")
toml("utf16", 'model = "tiny"\n'.encode("utf-16"), "c.toml:1", "not UTF-8")
toml(
    "nested-value-range",
    "\n\n[lora]\nr = 8\ndropout = 1.5\n",
    "c.toml:5",
    "lora.dropout must be at least 0 and below 1",
)
toml(
    "nested-warmup",
    "[train]\nwarmup_ratio = -0.5\n",
    "c.toml:2",
    "train.warmup_ratio must be between 0 and 1",
)
toml(
    "data-limit-string",
    '[data.echo.test]\npath = "data/test.jsonl"\nlimit = "ten"\n',
    "c.toml:3",
    "data.echo.test.limit must be a positive integer",
)
toml(
    "data-inline-path-type",
    "[data.echo]\ntest = { path = 3 }\n",
    "c.toml:2",
    "data.echo.test.path must be a file path",
)
toml(
    "data-labels-type",
    '[data.echo.test]\npath = "a.jsonl"\nlabels = "yes"\n',
    "c.toml:3",
    "data.echo.test.labels must be a table",
)
toml(
    "data-unknown-key-file",
    '[data.echo.test]\npath = "a.jsonl"\nlimt = 3\n',
    "c.toml:3",
    "did you mean 'limit'",
)
toml("data-not-a-table", 'data = { echo = "x.jsonl" }\n', "c.toml:1", "data.echo must be a table of splits")
toml("float-inf", "[train]\nepochs = inf\n", "c.toml:2", "must be a finite number")
toml("float-nan", "[train]\nlearning_rate = nan\n", "c.toml:2", "must be a finite number")
case("config", "config-not-found", "eval -c nope.toml", "nope.toml: config file not found")
case("config", "config-is-folder", "eval -c cfg", "cfg: config file is a folder", files={"cfg/x": ""})
bad_set("set-section-to-scalar", "train=3", "'train' is a table")
bad_set("set-section-to-string", "lora=big", "'lora' is a table")
bad_set("set-into-scalar", "seed.x=1", "'seed' is not a table")
bad_set("set-unknown-key", "train.epocs=3", "unknown config key 'train.epocs'")
bad_set("set-no-value", "train.epochs", "expected KEY=VALUE")
bad_set("set-no-key", "=3", "expected KEY=VALUE")
bad_set("set-wrong-type", "train.batch_size=big", "must be an integer")
bad_set("set-bool-for-int", "seed=true", "must be an integer")
bad_set("set-list-type", "lora.target_modules=3", "must be a list of strings")
bad_set("method", "method=lroa", "method must be one of", "did you mean 'lora'")
bad_set("lr-scheduler", "train.lr_scheduler=exponential", "train.lr_scheduler must be one of")
bad_set("correction", "stats.correction=bonferroni", "stats.correction must be one of")
for key in ("train.batch_size", "eval.batch_size", "train.max_length", "lora.r", "lora.alpha",
            "stats.n_resamples", "train.logging_steps"):  # fmt: skip
    bad_set(f"{key}-zero", f"{key}=0", f"{key} must be positive, got 0")
bad_set("negative-batch", "eval.batch_size=-4", "eval.batch_size must be positive")
bad_set("epochs-zero", "train.epochs=0", "train.epochs must be positive")
bad_set("max-steps-zero", "train.max_steps=0", "train.max_steps must be positive, or -1")
bad_set("max-steps-negative", "train.max_steps=-5", "train.max_steps must be -1 or positive")
bad_set("learning-rate-negative", "train.learning_rate=-1e-3", "train.learning_rate must be positive")
bad_set("learning-rate-nan", "train.learning_rate=nan", "must be a finite number")
bad_set("epochs-inf", "train.epochs=inf", "must be a finite number")
bad_set("warmup-negative", "train.warmup_ratio=-0.1", "train.warmup_ratio must be between 0 and 1")
bad_set("warmup-over-one", "train.warmup_ratio=1.5", "train.warmup_ratio must be between 0 and 1")
bad_set("weight-decay-negative", "train.weight_decay=-0.01", "train.weight_decay must be between 0 and 1")
bad_set("weight-decay-over-one", "train.weight_decay=2", "train.weight_decay must be between 0 and 1")
bad_set("lora-dropout-over-one", "lora.dropout=1.5", "lora.dropout must be at least 0 and below 1")
bad_set("lora-dropout-one", "lora.dropout=1", "lora.dropout must be at least 0 and below 1")
bad_set("lora-dropout-negative", "lora.dropout=-0.1", "lora.dropout")
bad_set("seed-negative", "seed=-1", "seed must be between 0 and 4294967295")
bad_set("seed-huge", "seed=1099511627776", "seed must be between 0")
bad_set("min-effect-negative", "stats.min_effect=-0.1", "stats.min_effect must be >= 0")
bad_set("alpha-zero", "stats.alpha=0", "stats.alpha must be between 0 and 1")
bad_set("alpha-over-one", "stats.alpha=1.5", "stats.alpha must be between 0 and 1")
bad_set("eval-limit-negative", "eval.limit=-1", "eval.limit must be >= 0")
bad_set("threads-negative", "threads=-2", "threads must be >= 0")
for key in ("eval_every", "dev_size", "patience", "save_every"):
    bad_set(f"{key}-negative", f"train.{key}=-1", f"train.{key} must be >= 0")
bad_set("fsdp-typo", "train.fsdp=full_shrad", "unknown option 'full_shrad'", "did you mean 'full_shard'")
bad_set("fsdp-unknown", "train.fsdp=full_shard zero3", "unknown option 'zero3'")
bad_set("deepspeed-missing-file", "train.deepspeed=ds.json", "ds.json: no such file")
case(
    "config",
    "deepspeed-bad-json",
    "run --tasks echo --set train.deepspeed=ds.json",
    "train.deepspeed",
    "not a JSON file",
    files={"ds.json": "{zero"},
)
case(
    "config",
    "deepspeed-not-installed",
    "run --tasks echo --set train.deepspeed=ds.json",
    "deepspeed package is not installed",
    files={"ds.json": '{"zero_optimization": {"stage": 2}}'},
)
case(
    "config",
    "fsdp-and-deepspeed",
    "run --tasks echo --set train.fsdp=full_shard --set train.deepspeed=ds.json",
    "set one, not both",
    files={"ds.json": "{}"},
)
bad_set("prompt-template", "prompt_template=compcat", "prompt_template 'compcat'", "did you mean 'compact'")
bad_set("device", "device=gpu", "device must be auto, cpu, cuda or cuda:N")
bad_set("device-index", "device=cuda:x", "device must be")
bad_set("model-empty", 'model=""', "model is empty")
bad_set("output-dir-empty", 'output_dir=""', "output_dir is empty")
bad_set("models-dir-empty", 'models_dir=""', "models_dir is empty")
bad_set("train-tasks-unknown", 'train_tasks=["nope"]', "train_tasks names 'nope', which is not in tasks")
bad_set("train-tasks-zero-weight", "train_tasks={echo=0}", "weight of 'echo' must be positive")
bad_set("train-tasks-negative-weight", "train_tasks={echo=-1}", "weight of 'echo' must be positive")
bad_set("train-tasks-twice", 'train_tasks=["echo","echo"]', "train_tasks names 'echo' twice")
bad_set("train-tasks-number", "train_tasks=3", "train_tasks must be a list of task names or a table")
bad_set("select-by", "train.select_by=best", "train.select_by must be mean, last or a trained task")
bad_set("target-modules-empty", "lora.target_modules=[]", "lora.target_modules is empty")
bad_set("target-modules-blank", 'lora.target_modules=["q_proj",""]', "lora.target_modules has an empty name")
bad_set("data-task-scalar", "data.echo=3", "data.echo must be a table of splits")
bad_set("data-unknown-split", "data.echo.dev=x.jsonl", "unknown split 'dev'")
bad_set(
    "set-data-limit-string", "data.echo.test.limit=ten", "data.echo.test.limit must be a positive integer"
)
bad_set(
    "data-limit-negative",
    "data.echo.test.limit=-1",
    "data.echo.test.limit must be a positive integer, got -1",
)
bad_set("data-limit-zero", "data.echo.test.limit=0", "must be a positive integer, got 0")
bad_set("data-limit-bool", "data.echo.test.limit=true", "must be a positive integer, got True")
bad_set("data-labels-string", "data.echo.test.labels=yes", "data.echo.test.labels must be a table")
bad_set("data-labels-list", 'data.echo.test.labels=["yes"]', "data.echo.test.labels must be a table")
bad_set("data-fields-string", "data.echo.test.fields=text", "data.echo.test.fields must be a table")
bad_set("data-fields-number", "data.echo.test.fields={input=3}", "data.echo.test.fields must be a table")
bad_set(
    "data-fields-unknown",
    'data.echo.test.fields={inptu="text"}',
    "unknown field 'inptu'",
    "did you mean 'input'",
)
bad_set("data-path-number", "data.echo.test.path=3", "data.echo.test.path must be a file path, got 3")
bad_set("data-path-empty", 'data.echo.test.path=""', "data.echo.test.path must be a file path")
bad_set(
    "data-columns-number", "data.echo.test.columns=3", "data.echo.test.columns must be a list of column names"
)
bad_set("data-columns-twice", 'data.echo.test.columns="a,a"', "names a column twice")
bad_set("data-unknown-key", "data.echo.test.colums=a", "is not a data key", "did you mean 'columns'")
bad_set("data-no-path", "data.echo.test={limit=3}", "data.echo.test needs a path")
case(
    "config",
    "data-key-inside-path",
    "eval --tasks echo --set data.echo.test=a.jsonl --set data.echo.test.path.x=1",
    "cannot set a key inside a path string",
)
case(
    "config",
    "data-for-unselected-task",
    "eval --tasks echo --set data.ehco.test=x.jsonl",
    "[data.ehco] names a task that is not in tasks",
    "did you mean 'echo'",
)
case(
    "config",
    "output-dir-is-a-file",
    "eval --tasks echo -o out",
    "output_dir 'out'",
    "is a file",
    files={"out": "x"},
)
case(
    "config",
    "output-dir-under-a-file",
    "eval --tasks echo -o out/sub",
    "output_dir 'out/sub'",
    "is a file",
    files={"out": "x"},
)
case(
    "config",
    "models-dir-is-a-file",
    "run --tasks echo --set models_dir=m",
    "models_dir 'm'",
    "is a file",
    files={"m": "x"},
)
toml("gate-malformed", 'gates = { require = ["echo.exact_match >>= 1"] }\n', "echo.exact_match >>= 1")

# --- task and metric names ------------------------------------------------------------------------
case("names", "task-typo", "eval --tasks ehco", "unknown task 'ehco'", "did you mean 'echo'")
case("names", "task-unknown-in-list", "eval --tasks echo,nosuch", "unknown task 'nosuch'")
case("names", "task-twice", "eval --tasks echo,echo", "tasks names 'echo' twice")
case("names", "tasks-empty", "eval --tasks ''", "tasks is empty")
case("names", "tasks-only-commas", "eval --tasks ,,", "tasks is empty")
case(
    "names",
    "task-blank-in-toml-list",
    "eval -c c.toml",
    "c.toml:1",
    "tasks has an empty name",
    files={"c.toml": 'tasks = ["echo", " "]\n'},
)
case("names", "task-case", "eval --tasks Echo", "unknown task 'Echo'", "did you mean 'echo'")
case("names", "gate-unknown-task", "eval --tasks echo --gate ehco.exact_match>=1", "ehco")
case("names", "gate-unknown-metric", "eval --tasks echo --gate echo.acuracy>=1", "acuracy")
case(
    "names",
    "train-task-without-training-data",
    "run --tasks echo,label --set 'train_tasks=[\"label\"]'",
    "train_tasks names 'label', which has no training data",
)
case(
    "names",
    "select-by-untrained",
    "run --tasks echo,label --set train.select_by=label",
    "train.select_by names 'label', which is not trained",
)
case("names", "tasks-show-unknown", "tasks show ehco", "unknown task 'ehco'", "did you mean 'echo'")


def plugin_task(metric: str) -> str:
    return (
        ECHO_PLUGIN.replace('"echo"', '"echo2"')
        .replace('"label"', '"label2"')
        .replace('("exact_match",)', f"({metric!r},)")
    )


case(
    "names",
    "metric-unknown",
    "eval --tasks echo2 --plugin p.py",
    "task 'echo2'",
    "unknown metric 'exact_mach'",
    "did you mean 'exact_match'",
    files={"p.py": plugin_task("exact_mach")},
)
case(
    "names",
    "metric-evaluate-file-missing",
    "eval --tasks echo2 --plugin p.py",
    "nope.py",
    files={"p.py": plugin_task("evaluate-file:nope.py")},
)

# --- plugins ----------------------------------------------------------------------------------------
case("plugins", "plugin-missing-file", "eval --tasks echo --plugin nope.py", "nope.py: plugin file not found")
case(
    "plugins",
    "plugin-syntax-error",
    "eval --tasks echo --plugin p.py",
    "p.py: plugin failed to import: SyntaxError",
    files={"p.py": "def broken(:\n"},
)
case(
    "plugins",
    "plugin-raises",
    "eval --tasks echo --plugin p.py",
    "p.py: plugin failed to import: RuntimeError: boom",
    files={"p.py": "raise RuntimeError('boom')\n"},
)
case(
    "plugins",
    "plugin-import-error",
    "eval --tasks echo --plugin p.py",
    "ModuleNotFoundError",
    files={"p.py": "import no_such_module_xyz\n"},
)
case(
    "plugins",
    "plugin-module-missing",
    "eval --tasks echo --plugin no_such_module_xyz",
    "--plugin no_such_module_xyz: cannot import module",
)
case(
    "plugins",
    "plugin-hook-typo",
    "eval --tasks echo --plugin p.py",
    "unknown hook 'harness_task'",
    "did you mean 'harness_tasks'",
    files={"p.py": "import harness\n@harness.hookimpl\ndef harness_task():\n    return []\n"},
)
case(
    "plugins",
    "plugin-duplicate-task",
    "eval --tasks echo --plugin p.py",
    "task 'echo' is registered twice",
    files={"p.py": ECHO_PLUGIN.replace('"label"', '"label3"')},
)
case(
    "plugins",
    "plugin-shadows-builtin",
    "eval --tasks echo --plugin p.py",
    "task 'sentiment' is registered twice",
    files={"p.py": ECHO_PLUGIN.replace('"label"', '"sentiment"').replace('"echo"', '"echo4"')},
)
case(
    "plugins",
    "plugin-bad-task-record",
    "eval --tasks echo --plugin p.py",
    "p.py: plugin failed to import: ValueError",
    "names no metrics",
    files={
        "p.py": "from harness import DataSource, Task\nT = Task(name='x', instruction='i', "
        "test=DataSource('a'), metrics=())\n"
    },
)
case(
    "plugins",
    "plugin-in-plugins-folder",
    "eval --tasks echo",
    "plugins/broken.py: plugin failed to import",
    files={"plugins/broken.py": "1/0\n"},
)
case(
    "plugins",
    "plugin-from-config",
    "eval --tasks echo -c c.toml",
    "nope.py: plugin file not found",
    files={"c.toml": 'plugins = ["nope.py"]\n'},
)
case(
    "plugins",
    "plugin-folder-given",
    "eval --tasks echo --plugin pdir/",
    "plugin file not found",
    files={"pdir/x.py": ""},
)
case(
    "plugins",
    "plugin-preset-duplicate",
    "eval --tasks echo --plugin p.py",
    "model preset 'tiny' is registered twice",
    files={
        "p.py": "import harness\nfrom harness.models.presets import tiny_preset\n@harness.hookimpl\n"
        "def harness_model_presets():\n    return [tiny_preset(name='tiny')]\n"
    },
)

# --- model folders and names (checked before loading: files only) -----------------------------------
MODEL_ARGV = "eval --tasks echo --model m"


def model(id: str, files: dict, *fragments: str, argv: str = MODEL_ARGV) -> None:
    case("model", id, argv, *fragments, files=files)


model("empty-folder", {"m": None}, "model folder 'm'", "is empty")
model("only-readme", {"m/README.md": "hi"}, "no config.json")
model("config-empty-file", _model(**{"config.json": ""}), "config.json is not valid JSON")
model("config-empty-object", _model(**{"config.json": "{}"}), "config.json is empty or not a JSON object")
model("config-truncated", _model(**{"config.json": LLAMA[:20]}), "config.json is not valid JSON")
model("config-list", _model(**{"config.json": "[1]"}), "not a JSON object")
model(
    "config-non-utf8",
    _model(**{"config.json": b'{"model_type": "ll\xe1ma"}'}),
    "config.json is not valid JSON",
)
model("config-no-model-type", _model(**{"config.json": '{"hidden_size": 8}'}), "names no model_type")
model(
    "unknown-architecture",
    _model(**{"config.json": '{"model_type": "llamma"}'}),
    "unknown architecture",
    "'llamma'",
    "did you mean 'llama'",
)
model(
    "remote-code",
    _model(**{"config.json": json.dumps({"model_type": "x", "auto_map": {"AutoModel": "m.M"}})}),
    "trust_remote_code = true",
)
model("no-weights", _model(**{"model.safetensors": None}), "no weights")
model(
    "pickle-only",
    _model(**{"model.safetensors": None, "pytorch_model.bin": b"\x80\x02}q\x00."}),
    "only pickle weights (pytorch_model.bin)",
    "allow_pickle = true",
)
model("pickle-pt", _model(**{"model.safetensors": None, "weights.pt": b"\x80\x02."}), "only pickle weights")
model(
    "truncated-weights",
    _model(**{"model.safetensors": _safetensors(cut=3)}),
    "model.safetensors is truncated",
)
model("corrupt-weights-header", _model(**{"model.safetensors": b"\xff" * 16}), "not a safetensors file")
model("weights-header-only", _model(**{"model.safetensors": b"\x02\x00"}), "not a safetensors file")
model("zero-byte-weights", _model(**{"model.safetensors": b""}), "not a safetensors file")
SHARDS = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
model(
    "missing-shard",
    _model(
        **{"model.safetensors": None, SHARDS["a"]: _safetensors()},
        **{"model.safetensors.index.json": json.dumps({"weight_map": SHARDS})},
    ),
    "shard model-00002-of-00002.safetensors named by model.safetensors.index.json is missing",
)
model("no-tokenizer", _model(**{"tokenizer.json": None}), "no tokenizer files")
model(
    "adapter-bad-config",
    {"m/adapter_config.json": "{", "m/adapter_model.safetensors": _safetensors()},
    "adapter_config.json is not valid JSON",
)
model("model-is-a-file", {"m": "x"}, "model 'm': is a file")
case("model", "model-missing-folder", "eval --tasks echo --model ./nope", "model './nope': no such folder")
case(
    "model",
    "hub-id-offline",
    "eval --tasks echo --model tinyy",
    "model 'tinyy'",
    "HF_HUB_OFFLINE",
    "did you mean 'tiny'",
)
case(
    "model",
    "hub-org-id-offline",
    "eval --tasks echo --model org/nosuch-model",
    "'org/nosuch-model'",
    "not a preset, a folder, or a Hub model in the local cache",
)
case(
    "model",
    "hub-id-invalid",
    "eval --tasks echo --model 'bad name!'",
    "model 'bad name!'",
    "not a preset or Hub id",
)
case(
    "model",
    "local-folder-typo",
    "eval --tasks echo --model modl",
    "model 'modl'",
    "did you mean 'model'",
    files={"model/x": ""},
)

# --- resume state -----------------------------------------------------------------------------------
RESUME = "run --resume r1"
STATE = "runs/r1/run_state.json"


def resume(id: str, content, *fragments: str) -> None:
    case("resume", id, RESUME, *fragments, files={STATE: content} if content is not None else {})


resume("no-run", None, "--resume r1: no run_state.json")
resume("state-not-json", "{not json", "run_state.json: unreadable run state")
resume("state-empty", "", "run_state.json: unreadable run state")
resume("state-truncated", _state()[:30], "unreadable run state")
resume("state-list", "[]", "a JSON object expected, got list")
resume("state-non-utf8", b'{"run_id": "r\xff"}', "unreadable run state")
resume("state-no-config", _state(config=None), "'config' missing or of the wrong type")
resume("state-config-not-table", _state(config="x"), "'config' missing or of the wrong type")
resume("state-no-phase", _state(phase=None), "'phase' missing")
resume("state-unknown-phase", _state(phase="flying"), "unknown phase 'flying'")
resume("state-done", _state(phase="done", results="reports/r1/results.json"), "that run already finished")
resume("state-other-run", _state(run_id="r2"), "run state of run 'r2'")
resume(
    "state-config-unknown-key", _state(config={"modle": "x"}), "run_state.json", "unknown config key 'modle'"
)
resume("state-config-bad-value", _state(config={"lora": {"dropout": 5.0}}), "run_state.json", "lora.dropout")
resume("state-config-bad-type", _state(config={"seed": "x"}), "run_state.json", "'seed' must be an integer")

# --- the command line -------------------------------------------------------------------------------
case("cli", "empty-model", "eval --tasks echo --model ''", "--model '': model is empty")
case("cli", "empty-output-dir", "eval --tasks echo -o ''", "--output-dir '': output_dir is empty")
case("cli", "blank-tasks", "eval --tasks ' '", "--tasks ' ': tasks is empty")
case("cli", "malformed-gate", "eval --tasks echo --gate 'echo.exact_match=>1'", "echo.exact_match=>1")
case("cli", "gate-no-value", "eval --tasks echo --gate 'echo.exact_match>='", "echo.exact_match>=")
case("cli", "gate-needs-baseline", "eval --tasks echo --gate no-regression", "no-regression")
case("cli", "report-unknown-run", "report nosuch", "nosuch")
case("cli", "bad-input-with-json", "eval --tasks ehco --json", "unknown task 'ehco'")
case("cli", "set-then-model-empty", "run --tasks echo --set model=tiny --model ''", "model is empty")
case("cli", "resume-unknown", "run --resume 20990101-000000-abcdef", "no run_state.json")
case("cli", "debug-off-one-line", "eval --tasks echo --set train.warmup_ratio=7", "train.warmup_ratio")


def _write(root: Path, files: dict) -> None:
    for name, content in {**BASE_FILES, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:  # an empty folder
            path.mkdir()
            continue
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def _snapshot(root: Path) -> list:
    return sorted((str(p.relative_to(root)), p.is_file() and p.stat().st_size) for p in root.rglob("*"))


@pytest.fixture
def refuse_model_loading(monkeypatch):
    import harness.models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was rejected")

    monkeypatch.setattr(harness.models, "load_model", refuse)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}:{c.id}" for c in CASES])
def test_bad_input(case, tmp_path, capsys, monkeypatch, refuse_model_loading):
    monkeypatch.setenv("COLUMNS", "300")  # rich: the message on one line, not wrapped
    _write(tmp_path, case.files)
    before = _snapshot(tmp_path)
    code = main(shlex.split(case.argv))
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    for fragment in case.fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert not (tmp_path / "reports").exists()
    assert _snapshot(tmp_path) == before  # nothing written, nothing removed


def test_the_table_is_large_and_distinct():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({(c.argv, json.dumps(c.files, default=repr, sort_keys=True)) for c in CASES}) == len(CASES)


# --- lenient inputs: accepted ---------------------------------------------------------------------
BOM = "\ufeff"
ROWS = {
    "jsonl": '{"input": "a", "output": "b"}\n{"input": "c", "output": "d"}\n',
    "csv": "input,output\na,b\nc,d\n",
    "tsv": "input\toutput\na\tb\nc\td\n",
}


@pytest.mark.parametrize("suffix", sorted(ROWS))
@pytest.mark.parametrize(
    "variant",
    {
        "bom": lambda text: BOM + text,
        "crlf": lambda text: text.replace("\n", "\r\n"),
        "trailing-blank-lines": lambda text: text + "\n\n \n",
        "all-three": lambda text: BOM + text.replace("\n", "\r\n") + "\r\n\r\n",
    }.items(),
    ids=lambda item: item[0],
)
def test_lenient_data_is_accepted(tmp_path, suffix, variant):
    from harness.tasks import DataSource, Task
    from harness.tasks.data import load_examples

    path = tmp_path / f"data.{suffix}"
    path.write_bytes(variant[1](ROWS[suffix]).encode())
    task = Task(name="echo", instruction="Echo.", test=DataSource(path), metrics=("exact_match",))
    examples = load_examples(task.test, task, "test")
    assert [(e.input, e.output) for e in examples] == [("a", "b"), ("c", "d")]
    first = 1 if suffix == "jsonl" else 2  # the line of the first row: after the header in a table
    assert [e.id for e in examples] == [f"echo-test-{first}", f"echo-test-{first + 1}"]


def test_lenient_config_is_accepted(tmp_path):
    from harness.config_loader import load_config

    path = tmp_path / "c.toml"
    text = BOM + 'model = "tiny"\n\n[train]\nepochs = 2\n[lora]\nr = 4\n\n\n'
    path.write_bytes(text.replace("\n", "\r\n").encode())
    config = load_config(path)
    assert (config.model, config.train.epochs, config.lora.r) == ("tiny", 2.0, 4)


def test_columns_as_a_comma_separated_string_are_names(tmp_path):
    from harness.tasks import DataSource, Task
    from harness.tasks.data import load_examples, with_data_overrides

    (tmp_path / "d.tsv").write_text("a\tb\nc\td\n", encoding="utf-8")
    task = Task(name="echo", instruction="Echo.", test=DataSource("x.jsonl"), metrics=("exact_match",))
    task = with_data_overrides(task, {"test": {"path": str(tmp_path / "d.tsv"), "columns": "input, output"}})
    assert task.test.columns == ("input", "output")
    assert [(e.input, e.output) for e in load_examples(task.test, task, "test")] == [("a", "b"), ("c", "d")]


def test_duplicate_rows_are_a_warning(tmp_path):
    from harness.config_loader import load_config
    from harness.workload import prepare

    _write(tmp_path, {"dup.jsonl": '{"input": "a", "output": "b"}\n' * 3 + '{"input": "c", "output": "d"}\n'})
    workload = prepare(load_config(overrides=["tasks=echo", "data.echo.test=dup.jsonl"]), train=False)
    assert len(workload.test["echo"]) == 4  # kept: a warning, not an error
    assert workload.warnings == ["dup.jsonl: 2 duplicate rows in the test split of task 'echo' (first: "
                                 "'echo-test-2' repeats 'echo-test-1')"]  # fmt: skip


# --- what needs a model: a tiny one ---------------------------------------------------------------


def test_lora_targets_matching_nothing_fail_before_the_baseline(
    tmp_path, capsys, monkeypatch, tiny_model_dir
):
    import harness.cycle

    def refuse(*args, **kwargs):
        raise AssertionError("the baseline evaluation ran")

    monkeypatch.setattr(harness.cycle, "_baseline", refuse)
    _write(tmp_path, {})
    argv = ["run", "-q", "--tasks", "echo", "--model", str(tiny_model_dir), "--set", "method=lora"]
    assert main([*argv, "--set", 'lora.target_modules=["q_prj", "v_proj"]']) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: config: lora.target_modules ['q_prj'] match no module of this model")
    assert "(did you mean 'q_proj'?)" in line and "\n" not in line
    assert not (tmp_path / "reports").exists()


def test_a_saved_model_passes_the_checks(tiny_model_dir):
    from harness.models import check_model

    check_model(str(tiny_model_dir), {})  # no error: config, complete safetensors, tokenizer


def test_pickle_weights_load_only_when_allowed(tmp_path, tiny_llama):
    import torch

    from harness.errors import HarnessError
    from harness.models import load_model

    model, tokenizer = tiny_llama(num_hidden_layers=1)
    model.config.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(HarnessError, match=r"only pickle weights \(pytorch_model\.bin\)"):
        load_model(str(tmp_path), {}, "cpu")
    loaded = load_model(str(tmp_path), {}, "cpu", allow_pickle=True)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.equal(loaded.model(ids).logits, model(ids).logits)


def test_an_unreachable_hub_fails_at_once_without_offline_mode(monkeypatch):
    """No HF_HUB_OFFLINE, but the Hub endpoint refuses connections: one line, no retries."""
    from huggingface_hub import constants

    from harness.errors import HarnessError
    from harness.models import check_model

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused
    with pytest.raises(HarnessError) as info:
        check_model("tinyy", {"tiny": None})
    assert str(info.value) == (
        "model 'tinyy': not a preset, a folder, or a Hub model in the local cache, and "
        "http://127.0.0.1:9 cannot be reached (did you mean 'tiny'?)"
    )
