"""Package list for setuptools (the rest of the metadata is in pyproject.toml).

The design card fixes flows/ and tasks/ at the repository root; they install as
slimline.flows and slimline.tasks so that nothing claims a generic top-level name.
"""

from setuptools import find_packages, setup

ROOTS = {"slimline": "slimline", "slimline.tasks": "tasks", "slimline.flows": "flows"}

packages = []
for name, folder in ROOTS.items():
    packages += [name, *(f"{name}.{sub}" for sub in find_packages(folder))]

setup(packages=packages, package_dir=ROOTS)
