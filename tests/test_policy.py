"""Release policies: tiers, tolerances and a one-sided non-inferiority test turned into one GO /
WARN / NO-GO / INCONCLUSIVE line (harness/decisions/policy.py, ``harness gate``)."""

from __future__ import annotations

import json
import statistics

import pytest

from harness.cli import main
from harness.decisions.policy import apply_policy, load_policy
from harness.errors import HarnessError

Z975 = statistics.NormalDist().inv_cdf(0.975)
Z95 = statistics.NormalDist().inv_cdf(0.95)


def _results(**tasks) -> dict:
    """results.json content: per task (before, after, CI half-width, verdict outcome), accuracy-like."""
    entries = {}
    for name, (before, after, half, outcome) in tasks.items():
        delta = after - before
        metric = {"higher_is_better": True, "scale": 1.0, "before": before, "after": after, "delta": delta}
        metric["delta_ci"] = [delta - half, delta + half]
        entries[name] = {
            "primary_metric": "accuracy",
            "metrics": {"accuracy": metric},
            "verdict": {"outcome": outcome},
        }
    return {"run_id": "r1", "mode": "run", "statistics": {"alpha": 0.05}, "tasks": entries}


def _policy(tmp_path, text: str):
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def test_non_inferiority_passes_fails_or_cannot_tell(tmp_path):
    policy = _policy(tmp_path, '[tasks.a]\ntier = "critical"\nnon_inferiority = 0.02\n')
    # se = 0.02 / z(0.975); one-sided bound = delta - z(0.95) * se
    shown = apply_policy(policy, _results(a=(0.80, 0.81, 0.02, "no significant change")))
    bound = 0.01 - Z95 * 0.02 / Z975
    assert (
        shown["tasks"]["a"]["checks"][0]["passed"] is True and f"{bound:+.4f}" in shown["tasks"]["a"]["why"]
    )
    assert (shown["decision"], shown["exit_code"]) == ("GO", 0)
    wide = apply_policy(policy, _results(a=(0.80, 0.80, 0.10, "no significant change")))
    assert wide["tasks"]["a"]["status"] == "cannot tell" and (wide["decision"], wide["exit_code"]) == (
        "INCONCLUSIVE",
        4,
    )
    worse = apply_policy(policy, _results(a=(0.80, 0.75, 0.02, "regressed")))
    assert worse["tasks"]["a"]["status"] == "fail" and (worse["decision"], worse["exit_code"]) == ("NO-GO", 1)


def test_tiers_decide_how_much_a_failure_weighs(tmp_path):
    text = "".join(
        f'[tasks.{name}]\ntier = "{tier}"\nmax_drop = 0.01\n'
        for name, tier in (("crit", "critical"), ("sup", "supporting"), ("adv", "advisory"))
    )
    policy = _policy(tmp_path, text)
    dropped = (0.8, 0.7, 0.01, "regressed")
    kept = (0.8, 0.8, 0.01, "no significant change")
    assert apply_policy(policy, _results(crit=kept, sup=kept, adv=dropped))["decision"] == "GO"
    assert apply_policy(policy, _results(crit=kept, sup=dropped, adv=dropped))["decision"] == "WARN"
    both = apply_policy(policy, _results(crit=dropped, sup=dropped, adv=kept))
    assert (
        both["decision"] == "NO-GO" and both["line"] == "NO-GO: 3 tasks under policy.toml (1 NO-GO, 1 WARN)"
    )


def test_relative_and_absolute_tolerances_follow_the_metric_direction(tmp_path):
    policy = _policy(tmp_path, '[tasks.a]\ntier = "critical"\nmax_relative_drop = 0.05\nmin_after = 20\n')
    results = _results(a=(20.0, 19.2, 1.0, "no significant change"))  # -4%: within 5%, but after < 20
    checks = {c["name"]: c["passed"] for c in apply_policy(policy, results)["tasks"]["a"]["checks"]}
    assert checks == {"min_after": False, "max_relative_drop": True}
    lower = _results(a=(20.0, 19.2, 1.0, "no significant change"))
    lower["tasks"]["a"]["metrics"]["accuracy"]["higher_is_better"] = False  # a drop is better here
    checks = {c["name"]: c["passed"] for c in apply_policy(policy, lower)["tasks"]["a"]["checks"]}
    assert checks == {"min_after": True, "max_relative_drop": True}


def test_a_missing_task_and_a_task_without_rules(tmp_path):
    policy = _policy(
        tmp_path,
        '[tasks.gone]\ntier = "critical"\n[tasks.soft]\ntier = "supporting"\nmissing = "ignore"\n'
        '[tasks.plain]\ntier = "critical"\n',
    )
    shown = apply_policy(policy, _results(plain=(0.5, 0.5, 0.1, "inconclusive")))
    assert shown["tasks"]["gone"]["outcome"] == "NO-GO" and shown["tasks"]["soft"]["outcome"] == "GO"
    assert shown["tasks"]["plain"]["status"] == "cannot tell"  # no rules: the verdict decides


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tasks.a]\ntier = "vital"\n', r"policy\.toml:2: tasks\.a\.tier must be one of critical"),
        ('[tasks.a]\ntier = "critical"\nmax_dorp = 1\n', r"policy\.toml:3: unknown key 'max_dorp'.*max_drop"),
        ('alpha = 2\n[tasks.a]\ntier = "critical"\n', r"policy\.toml:1: alpha must be a number between 0"),
        (
            '[tasks.a]\ntier = "critical"\nmax_drop = -1\n',
            r"policy\.toml:3: tasks\.a\.max_drop must be a number ≥ 0",
        ),
        ("alpha = 0.05\n", r"a policy needs at least one \[tasks.NAME\] table"),
    ],
)
def test_a_bad_policy_is_one_line_naming_the_line(tmp_path, text, message):
    with pytest.raises(HarnessError, match=message):
        _policy(tmp_path, text)


def test_harness_gate_on_a_saved_run(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(_results(a=(0.8, 0.7, 0.02, "regressed"))), encoding="utf-8")
    (tmp_path / "p.toml").write_text('[tasks.a]\ntier = "critical"\nmax_drop = 0.02\n', encoding="utf-8")
    assert main(["gate", str(tmp_path / "p.toml"), str(run)]) == 1
    out = capsys.readouterr().out
    assert "NO-GO: 1 task under p.toml (1 NO-GO)" in out and "change -0.1000 ≥ -0.02 (failed)" in out
    assert main(["gate", str(tmp_path / "p.toml"), str(run), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["decision"] == "NO-GO"
    assert main(["gate", str(tmp_path / "missing.toml"), str(run)]) == 2


def test_a_rule_on_a_slice(tmp_path):
    results = _results(a=(0.8, 0.82, 0.02, "no significant change"))
    results["tasks"]["a"]["slices"] = {
        "field": "domain",
        "metric": "accuracy",
        "values": {"imdb": {"n": 50, "before": 0.8, "after": 0.7, "delta": -0.1, "delta_ci": [-0.2, 0.0]}},
    }
    policy = _policy(
        tmp_path,
        '[tasks."a[imdb]"]\ntier = "critical"\nmax_drop = 0.05\n[tasks."a[yelp]"]\ntier = "supporting"\n',
    )
    shown = apply_policy(policy, results)
    assert (
        shown["tasks"]["a[imdb]"]["outcome"] == "NO-GO"
        and "change -0.1000" in shown["tasks"]["a[imdb]"]["why"]
    )
    assert shown["tasks"]["a[yelp]"]["status"] == "missing" and shown["tasks"]["a[yelp]"]["outcome"] == "WARN"


def test_a_change_exactly_at_a_tolerance_meets_it(tmp_path):
    """0.475 - 0.5 is -0.025000000000000022 in floating point: a 5% drop allowed means 5% passes."""
    policy = _policy(tmp_path, '[tasks.a]\ntier = "critical"\nmax_relative_drop = 0.05\nmax_drop = 0.025\n')
    checks = apply_policy(policy, _results(a=(0.5, 0.475, 0.1, "inconclusive")))["tasks"]["a"]["checks"]
    assert [c["passed"] for c in checks] == [True, True]


def test_harness_run_with_a_policy_decides_records_and_reports(tmp_path, echo_plugin, tiny_model_dir, capsys):
    """``harness run --policy``: the policy is read before any model work (a bad one: exit 2,
    nothing written), decides the run (NO-GO: exit 1), and is in results.json and both reports."""
    plugin = echo_plugin(tmp_path)
    args = ["run", "-q", "--model", str(tiny_model_dir), "--plugin", str(plugin), "--tasks", "echo"]
    args += [
        "-o",
        str(tmp_path / "reports"),
        "--set",
        f"models_dir='{tmp_path / 'runs'}'",
        "--set",
        "threads=1",
    ]
    args += ["--set", "method='full'", "--set", "cache=false", "--set", "train.max_steps=2"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[tasks.echo]\ntier = "vital"\n', encoding="utf-8")
    assert main([*args, "--policy", str(bad)]) == 2
    assert "bad.toml" in capsys.readouterr().err and not (tmp_path / "reports").exists()
    policy = tmp_path / "release.toml"
    policy.write_text('[tasks.echo]\ntier = "critical"\nmin_after = 2.0\n', encoding="utf-8")  # unreachable
    assert main([*args, "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "NO-GO: 1 task under release.toml (1 NO-GO)" in out
    (run,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir()]
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["policy"]["decision"] == "NO-GO" and results["policy"]["exit_code"] == 1
    assert results["config"]["gates"]["policy"] == str(policy.resolve())
    assert list(results).index("policy") == list(results).index("decision") + 1
    assert (
        "**Release policy: NO-GO: 1 task under release.toml (1 NO-GO).**" in (run / "report.md").read_text()
    )
    assert "Release policy:" in (run / "report.html").read_text()
    # the same decision as harness gate on the saved run
    assert main(["gate", str(policy), str(run)]) == 1
