"""The setup promises: conda and pip get the same dependencies; CI runs the README's test command."""
from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement

from tests.conftest import ROOT


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# conda-forge names that differ from PyPI's (anaconda.org/conda-forge/python-confluent-kafka and
# anaconda.org/conda-forge/playwright-python: the same projects, packaged under these names)
CONDA_TO_PYPI = {"python-confluent-kafka": "confluent-kafka", "playwright-python": "playwright"}


def _normal(spec: str) -> tuple[str, str]:
    req = Requirement(spec.split("#")[0].replace(" ", ""))
    name = req.name.lower().replace("_", "-")
    return CONDA_TO_PYPI.get(name, name), str(req.specifier)


def test_environment_yml_declares_the_same_dependencies_as_pyproject():
    project = _pyproject()["project"]
    declared = {_normal(s) for s in project["dependencies"] + project["optional-dependencies"]["course"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_normal(d) for d in env["dependencies"]
             if isinstance(d, str) and Requirement(d.replace(" ", "")).name not in ("python", "pip")}
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    # a package conda-forge does not carry is installed by conda's pip section instead
    conda |= {_normal(item) for item in pip_section if not item.startswith("-")}
    assert conda == declared, f"only in environment.yml: {conda - declared}; only in pyproject: {declared - conda}"
    assert any("." == item.split()[-1] for item in pip_section), "environment.yml must install msglib itself (-e .)"


def test_every_dependency_has_a_lower_and_an_upper_bound():
    project = _pyproject()["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["course"]:
        req = Requirement(spec)
        ops = {s.operator for s in req.specifier}
        if req.name == "packaging":  # a tool dependency of `doctor`; any modern version works
            continue
        assert ">=" in ops and "<" in ops, f"{spec}: give a lower bound and a tested upper bound"


def test_nbgrader_is_paired_with_jupyterlab_4_and_notebook_7():
    course = {Requirement(s).name: Requirement(s).specifier for s in _pyproject()["project"]["optional-dependencies"]["course"]}
    assert course["jupyterlab"].contains("4.6.0") and not course["jupyterlab"].contains("5.0.0")
    assert course["notebook"].contains("7.6.0") and not course["notebook"].contains("8.0.0")


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [ln.split("#")[0].strip() for ln in first_block.splitlines() if ln.strip()]
    assert commands[:2] == ["make lab", "make test"], "the README starts with the two setup commands"
    ci = (ROOT / ".ci" / "run").read_text()
    ci_commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert "make test" in ci_commands


def test_makefile_targets_exist_for_every_documented_step():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("setup", "lab", "test", "release", "check", "grade", "doctor", "lint", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), f"make {target} is documented but missing"
