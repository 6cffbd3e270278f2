"""Failure analysis: detectors of suspicious segments, their review state, and the report."""

from core.analysis.detectors import CONTEXT_KINDS, KINDS, Detections, detect
from core.analysis.segments import Segment
from core.analysis.thresholds import Thresholds

__all__ = ["CONTEXT_KINDS", "KINDS", "Detections", "Segment", "Thresholds", "detect"]
