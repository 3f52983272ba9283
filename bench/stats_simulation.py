"""Are the verdicts' statistics right? A seeded simulation through the functions harness uses.

Paired data with a known true change is scored by ``harness.evaluation.stats.compare`` (the paired
bootstrap with its CI, McNemar's exact or mid-p test) and decided by
``harness.decisions.verdicts.decide``, exactly as a run's results.json is. Per setting (binary or
continuous scores, n examples, true change 0, MDE or 2 × MDE) it counts how often the verdict says
"improved", and how often it says "no change" when the equivalence margin equals the MDE, against
what theory says:

* false positives: under no change, "improved" at most alpha (two-sided test: about alpha / 2);
* power: at the MDE harness reports, "improved" 0.8 ± 0.05 of the time;
* the equivalence test's error: "no change" when the true change equals the margin, at most alpha;
* equivalence: "no change" at the rate the theory of the CI gives: for continuous data
  ``Φ((m − δ)/se − z) − Φ((−m − δ)/se + z)`` (m the margin, z = z_{1−α/2}; 0.60 at δ = 0,
  m = MDE), for binary data the same for the Wald interval, summed over every table.

Binary data: each example flips right→wrong with probability (ψ − δ)/2 and wrong→right with
(ψ + δ)/2 (ψ = 0.3 discordance, base accuracy 0.4; beyond δ = ψ every flip goes one way), the
model the McNemar power calculation assumes. Continuous: before ~ N(0.5, 0.2²), after = before + δ +
N(0, 0.15²). The bootstrap uses 200 resamples here (harness's default is 1000) to keep the run
near a minute; that coarsens the CI but not its level.

    python bench/stats_simulation.py [--reps 1000] [--seed 0]

prints the table and writes bench/results/stats_simulation-<date>-<commit>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import gammaln, xlogy
from scipy.stats import norm

from harness.decisions import power
from harness.decisions.verdicts import decide
from harness.evaluation.stats import compare
from harness.metrics import Metric, MetricResult

ALPHA = 0.05
MIN_EFFECT = 0.01  # harness's default [stats] min_effect, for the "improved" counts
N_RESAMPLES = 200
SIZES = (50, 100, 400)
PSI, BASE = 0.3, 0.4  # binary: discordance and base accuracy
SD_BEFORE, SD_DIFF = 0.2, 0.15  # continuous


def _metric(binary: bool) -> Metric:
    return Metric("accuracy" if binary else "score", compute=lambda p, r: None, binary=binary)


def _binary_pair(rng, n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    psi = max(PSI, delta)
    p10, p01 = (psi - delta) / 2, (psi + delta) / 2
    p11 = BASE - p10
    kind = rng.choice(4, size=n, p=[p11, p10, p01, 1 - p11 - p10 - p01])  # 11, 10, 01, 00
    before = np.isin(kind, (0, 1)).astype(float)
    after = np.isin(kind, (0, 2)).astype(float)
    return before, after


def _continuous_pair(rng, n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    before = rng.normal(0.5, SD_BEFORE, n)
    return before, before + delta + rng.normal(0.0, SD_DIFF, n)


def _mde(kind: str, n: int) -> float:
    if kind == "continuous":
        return power.z_mde(SD_DIFF / math.sqrt(n), ALPHA)
    return power.mcnemar_mde(n, ALPHA, discordance=PSI, test=kind.split(":")[1])


def _theory(kind: str, n: int, delta: float, margin: float) -> tuple[float, float]:
    """(P(improved), P(no change with this margin)) by theory: for continuous data the normal
    interval ``δ̂ ± z·se``; for binary data the Wald interval ``δ̂ ± z·√((ψ̂ − δ̂²)/n)`` summed
    over every table (b, c), which keeps the discreteness of small n."""
    z = norm.ppf(1 - ALPHA / 2)
    if kind == "continuous":
        se = SD_DIFF / math.sqrt(n)
        improved = float(norm.cdf(delta / se - z))
        equivalent = norm.cdf((margin - delta) / se - z) - norm.cdf((-margin - delta) / se + z)
        return improved, float(max(0.0, equivalent))
    psi = max(PSI, delta)
    improved = power.mcnemar_power(n, max(delta, 1e-12), psi, ALPHA, kind.split(":")[1])
    b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    rest = n - b - c
    ok = rest >= 0
    b, c, rest = b[ok], c[ok], rest[ok]
    p10, p01 = (psi - delta) / 2, (psi + delta) / 2
    log_pmf = gammaln(n + 1) - gammaln(b + 1) - gammaln(c + 1) - gammaln(rest + 1)
    log_pmf = log_pmf + xlogy(b, p10) + xlogy(c, p01) + xlogy(rest, 1 - psi)
    d_hat, psi_hat = (c - b) / n, (b + c) / n
    half = z * np.sqrt(np.maximum(psi_hat - d_hat**2, 0.0) / n)
    inside = (d_hat - half >= -margin) & (d_hat + half <= margin)
    return improved, float(np.exp(log_pmf[inside]).sum())


def simulate(kind: str, n: int, delta: float, margin: float, reps: int, seed: int) -> dict:
    """Outcome rates over ``reps`` simulated test sets, decided as harness decides a run."""
    rng = np.random.default_rng(seed)
    binary = kind != "continuous"
    metric, test = _metric(binary), kind.split(":")[1] if binary else "exact"
    counts = {"improved": 0, "regressed": 0, "no change": 0, "inconclusive": 0}
    equivalent = 0
    for rep in range(reps):
        before, after = (_binary_pair if binary else _continuous_pair)(rng, n, delta)
        b = MetricResult(float(before.mean()), before.tolist())
        a = MetricResult(float(after.mean()), after.tolist())
        entry = {"higher_is_better": True, "scale": 1.0, "before": b.score, "after": a.score}
        entry["delta"] = a.score - b.score
        entry |= compare(metric, None, b, a, seed=rep, n_resamples=N_RESAMPLES, alpha=ALPHA, mcnemar=test)
        task = {"t": {"primary_metric": metric.name, "n_test": n, "metrics": {metric.name: entry}}}
        verdicts, _ = decide(task, alpha=ALPHA, min_effect=MIN_EFFECT, correction="holm")
        counts[verdicts["t"]["outcome"]] += 1
        verdicts, _ = decide(task, alpha=ALPHA, min_effect=margin, correction="holm")
        equivalent += verdicts["t"]["outcome"] == "no change"
    theory_improved, theory_equivalent = _theory(kind, n, delta, margin)
    return {
        "kind": kind,
        "n": n,
        "delta": round(delta, 5),
        "margin": round(margin, 5),
        "reps": reps,
        "rates": {outcome: count / reps for outcome, count in counts.items()},
        "no_change_at_margin_mde": equivalent / reps,
        "theory": {"improved": theory_improved, "no_change_at_margin_mde": theory_equivalent},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows, checks = [], []
    for k, kind in enumerate(("binary:exact", "binary:mid-p", "continuous")):
        for n in SIZES:
            mde = _mde(kind, n)
            for j, factor in enumerate((0, 1, 2)):
                row = simulate(kind, n, factor * mde, mde, args.reps, args.seed + 100 * k + 10 * n + j)
                row["effect"] = ("0", "MDE", "2×MDE")[factor]
                rows.append(row)
                if factor == 0:
                    ok = row["rates"]["improved"] <= ALPHA
                    checks.append((f"{kind} n={n}: P(improved | no change) ≤ α", ok))
                    gap = abs(row["no_change_at_margin_mde"] - row["theory"]["no_change_at_margin_mde"])
                    checks.append((f"{kind} n={n}: P(no change) within 0.05 of theory", gap <= 0.05))
                if factor == 1:
                    ok = abs(row["rates"]["improved"] - power.POWER) <= 0.05
                    checks.append((f"{kind} n={n}: power at the MDE 0.8 ± 0.05", ok))
                    ok = row["no_change_at_margin_mde"] <= ALPHA  # the equivalence test's error
                    checks.append((f"{kind} n={n}: P(no change | true change = margin) ≤ α", ok))
    seconds = time.perf_counter() - started
    print(_table(rows))
    failed = [name for name, ok in checks if not ok]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks pass; {seconds:.0f} s")
    for name in failed:
        print(f"  FAILED: {name}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    path = args.out / f"stats_simulation-{dt.date.today().isoformat()}-{commit.strip() or 'nogit'}.json"
    settings = {"alpha": ALPHA, "min_effect": MIN_EFFECT, "n_resamples": N_RESAMPLES, "reps": args.reps}
    settings |= {"seed": args.seed, "binary": {"discordance": PSI, "base_accuracy": BASE}}
    settings |= {"continuous": {"sd_before": SD_BEFORE, "sd_diff": SD_DIFF}}
    record = {"settings": settings, "seconds": round(seconds, 1), "rows": rows}
    record["checks"] = [{"check": name, "passed": ok} for name, ok in checks]
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return 1 if failed else 0


def _table(rows: list[dict]) -> str:
    lines = [
        "| data | n | true change | improved (theory) | regressed | no change, margin = MDE (theory) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        rates, theory = r["rates"], r["theory"]
        lines.append(
            f"| {r['kind']} | {r['n']} | {r['effect']} = {r['delta']:.4f} "
            f"| {rates['improved']:.3f} ({theory['improved']:.3f}) | {rates['regressed']:.3f} "
            f"| {r['no_change_at_margin_mde']:.3f} ({theory['no_change_at_margin_mde']:.3f}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
