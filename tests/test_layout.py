"""Repository layout rules from the design card."""
from __future__ import annotations

from paths import REPO


def test_every_plugin_distribution_is_in_requirements_dev():
    requirements = (REPO / "requirements-dev.txt").read_text()
    for project in (REPO / "plugins").glob("*/pyproject.toml"):
        assert f"-e ./plugins/{project.parent.name}" in requirements, project.parent.name


def test_readme_starts_with_the_two_setup_commands():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```")[1]
    commands = [ln.strip() for ln in first_block.splitlines()[1:] if ln.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
