"""Metrics: the contract a metric implements (:mod:`.metric`), the built-in metrics over
rouge-score, sacrebleu and scikit-learn (:mod:`.builtin`), the sufficient-statistics formulas that
let corpus metrics be resampled (:mod:`.sufficient_stats`), and the Hugging Face ``evaluate``
bridge (:mod:`.hf_evaluate`)."""

from harness.metrics.metric import Metric, MetricResult

__all__ = ["Metric", "MetricResult"]
