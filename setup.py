"""Only what pyproject.toml cannot say: the top-level resources/ folder is installed as the
package `vidihand_resources` (icon, desktop entry, theme; core/resources.py finds it)."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["core*", "app*"]),
        *("vidihand_resources" + sub for sub in ("", ".icons", ".theme")),
    ],
    package_dir={"vidihand_resources": "resources"},
)
