"""The role of a hand's frame in the fit (see problem.py)."""

NONE, ACTIVE, FIXED = 0, 1, 2
