"""Package discovery that pyproject.toml cannot state: ptrm's packages as found, and the command-line package,
whose sources are in cli/, installed as `ptrm_cli` (a top-level `cli` would collide with other packages')."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["ptrm", "ptrm.*"]) + ["ptrm_cli"], package_dir={"ptrm_cli": "cli"})
