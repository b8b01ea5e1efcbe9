"""Every install is pinned: each requirement has an exact version in constraints.txt, and the README's start and
test commands (and what CI runs) install under it, so a new release upstream cannot change the page by surprise."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = "constraints.txt"


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of one file: no comments, no ``-r`` includes."""
    lines = (line.split(" #")[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def pins() -> dict[str, Requirement]:
    constraints = [Requirement(line) for line in requirement_lines(ROOT / CONSTRAINTS)]
    return {canonicalize_name(pin.name): pin for pin in constraints}


def test_every_requirement_has_an_exact_pin_that_satisfies_it() -> None:
    pinned = pins()
    files = sorted(ROOT.glob("requirements*.txt"))
    assert {path.name for path in files} >= {"requirements.txt", "requirements-dev.txt", "requirements-bench.txt",
                                             "requirements-mt5linux.txt"}  # fmt: skip
    for path in files:
        for line in requirement_lines(path):
            wanted = Requirement(line)
            pin = pinned.get(canonicalize_name(wanted.name))
            assert pin is not None, f"{path.name}: {wanted.name} has no pin in {CONSTRAINTS}"
            (spec,) = pin.specifier
            assert spec.operator == "==", f"{CONSTRAINTS}: {pin} is not an exact version"
            assert wanted.specifier.contains(spec.version, prereleases=True), f"{pin} breaks {path.name}: {wanted}"
            assert not pin.extras, f"{CONSTRAINTS}: pip refuses extras in constraints ({pin})"
            assert str(pin.marker) == str(wanted.marker), f"{pin}: its marker differs from {path.name}'s {wanted}"


def test_every_pin_is_exact() -> None:
    for pin in pins().values():
        assert [spec.operator for spec in pin.specifier] == ["=="], pin


def test_the_readme_commands_install_under_the_constraints() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -r requirements.txt -c constraints.txt && python app.py" in readme
    installs = re.findall(r"pip install -r [^\n`]*", readme)
    assert installs and all(f"-c {CONSTRAINTS}" in command for command in installs), installs
    test_script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert f"-r requirements-dev.txt -c {CONSTRAINTS}" in test_script
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"-c {CONSTRAINTS}" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
