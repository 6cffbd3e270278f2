"""ViDiHand Studio core: everything without a screen.

Video access, the two-hand label document and its edits, hand models, reconstructors, workers,
file formats and metrics. Nothing in this package imports Qt or PyVista.
"""

__version__ = "0.1.0"
