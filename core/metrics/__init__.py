"""Paper-protocol metrics of predicted hand labels against ground truth (docs/metrics.md)."""

from core.metrics.canonical import CANONICAL_DEFINITION, canonical_joints, canonical_joints_2d
from core.metrics.evaluate import SPECS, Evaluation, MetricSpec, MetricValue, evaluate

__all__ = [
    "CANONICAL_DEFINITION",
    "SPECS",
    "Evaluation",
    "MetricSpec",
    "MetricValue",
    "canonical_joints",
    "canonical_joints_2d",
    "evaluate",
]
