"""ViDiHand Studio's resources: the application icon, the freedesktop entry and the Qt theme.

Installed as the package `vidihand_resources` (setup.py maps this folder); in a source checkout
`core.resources` finds the folder beside `core/`. Nothing here is code: see README.md.
"""
