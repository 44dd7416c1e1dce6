"""Build step only (metadata is in pyproject.toml): a wheel carries the shipped policy set
and the example configuration as package data under gateway/shipped/, so that
`provgate init` works from `pip install .` / `pipx install .` as from a checkout."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("config.example.toml", "policies")


class BuildWithShippedFiles(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "gateway" / "shipped"
        target.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copyfile(source, target / name)


setup(cmdclass={"build_py": BuildWithShippedFiles})
