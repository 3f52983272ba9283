"""What a run leaves on disk, through the Python API: the report set appears all at once (a failed
write leaves no partial set and touches neither earlier runs nor the index), every file harness
writes follows the umask, and the tuned model gets a model card that huggingface_hub loads."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

import harness
from harness.config import Config
from harness.reports import store
from harness.reports.modelcard import CARD_FILE


@pytest.fixture(scope="module")
def make_config(tmp_path_factory, run_config, echo_plugin):
    """``make_config(root)``: the suite's small Llama, fully tuned for one epoch on an "echo" task
    (16 training, 8 test examples), reports under ``root/reports``, models under ``root/runs``."""
    plugin = echo_plugin(tmp_path_factory.mktemp("report-set-data"))

    def make(root: Path) -> Config:
        return run_config(root, plugin)

    return make


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_follow_the_umask_and_the_model_gets_a_card(make_config, tmp_path, umask_027):
    from huggingface_hub import ModelCard

    results, paths = harness.run(make_config(tmp_path))
    run_dir = paths["html"].parent
    files = [*run_dir.iterdir(), *(run_dir / "charts").iterdir()]
    files += [tmp_path / "reports" / "index.md", tmp_path / "reports" / "index.html"]
    model_dir = Path(results["model"]["output_dir"])
    files += [model_dir / CARD_FILE, model_dir.parent / "run_state.json"]
    modes = {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in files}
    expected = {name: oct(0o750 if (tmp_path / name).is_dir() else 0o640) for name in modes}
    assert modes == expected

    card = ModelCard.load(model_dir / CARD_FILE)
    assert card.data.library_name == "transformers" and "harness" in card.data.tags
    (evaluation,) = card.data.eval_results
    after = results["tasks"]["echo"]["metrics"]["exact_match"]["after"]
    assert (evaluation.dataset_name, evaluation.metric_type, evaluation.metric_value) == (
        "echo",
        "exact_match",
        after,
    )
    verdict = results["tasks"]["echo"]["verdict"]["outcome"]
    assert f"| echo | {verdict}" in card.text.replace("▲ ", "").replace("▼ ", "").lower()
    assert "| learning_rate | 0.003 |" in card.text

    # provenance: both models' fingerprints (the card is not part of the tuned one), every split
    from harness.models.fingerprint import directory_fingerprint
    from harness.reports.provenance import _digest

    provenance = results["provenance"]
    assert provenance["tuned_model_fingerprint"] == _digest(directory_fingerprint(model_dir))
    assert provenance["model_fingerprint"] != provenance["tuned_model_fingerprint"]
    assert set(provenance["data_sha256"]["echo"]) == {"test", "train", "dev"}
    cost = results["cost"]
    assert cost["train_real_tokens"] > 0 and cost["peak_memory"]["process_rss_bytes"] > 10_000_000
    assert cost["eval_examples_predicted"] == {"before": 8, "after": 8}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("failure", ["render", "disk full"])
def test_a_failed_report_write_leaves_no_partial_set(make_config, tmp_path, monkeypatch, failure):
    config = make_config(tmp_path)
    harness.run(config)  # an earlier run, and the index listing it
    before = _snapshot(tmp_path / "reports")

    if failure == "render":

        def broken_render(*args, **kwargs):
            raise RuntimeError("template broke")

        monkeypatch.setattr(store, "render_html", broken_render)
    else:
        real_write = store.write_new_file

        def full_disk(path, data):
            if Path(path).name == "report.md":  # after results.json and samples.jsonl
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            real_write(path, data)

        monkeypatch.setattr(store, "write_new_file", full_disk)
    with pytest.raises((RuntimeError, OSError)):
        harness.run(config)
    assert _snapshot(tmp_path / "reports") == before  # no new run folder, no temp folder, same index
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".") and p.is_dir()]
