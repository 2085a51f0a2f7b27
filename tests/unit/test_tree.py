"""What the tree says about itself agrees: licences, role READMEs, paths the docs cite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(path for path in (REPO / "roles").iterdir() if path.is_dir())


def test_the_collection_is_gpl_and_so_is_every_role_that_states_a_licence():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert "GNU GENERAL PUBLIC LICENSE" in (REPO / galaxy["license_file"]).read_text()
    stated = {
        role.name: (yaml.safe_load((role / "meta/main.yml").read_text())["galaxy_info"] or {}).get("license")
        for role in ROLES
        if (role / "meta/main.yml").exists()
    }
    assert stated, "no role states a licence: the test would check nothing"
    assert {name: licence for name, licence in stated.items() if licence != "GPL-3.0-or-later"} == {}


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_every_role_has_a_readme_with_its_variables(role):
    readme = role / "README.md"
    assert readme.exists(), f"{readme.relative_to(REPO)} is missing"
    text = readme.read_text()
    assert text.startswith(f"# disposable.disco.{role.name}\n")
    assert "\n## Role Variables\n" in text


def test_every_role_readme_the_docs_cite_exists():
    cited = set()
    for doc in [
        REPO / "README.md",
        *REPO.glob("docs/*.md"),
        *REPO.glob("roles/*/README.md"),
        *REPO.glob("roles/*/defaults/main.yml"),
    ]:
        cited |= set(re.findall(r"roles/[a-z_]+/README\.md", doc.read_text()))
    assert cited, "no citation found: the test would check nothing"
    assert sorted(path for path in cited if not (REPO / path).exists()) == []


def role_defaults(role: Path) -> set[str]:
    path = role / "defaults" / "main.yml"
    return set(yaml.safe_load(path.read_text()) or {}) if path.exists() else set()


def role_options(role: Path) -> set[str]:
    path = role / "meta" / "argument_specs.yml"
    specs = (yaml.safe_load(path.read_text()) or {}).get("argument_specs", {}) if path.exists() else {}
    return {name for spec in specs.values() for name in (spec.get("options") or {})}


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_every_default_of_a_role_is_in_its_argument_spec_and_readme(role):
    """A role's knobs stand in its defaults, its argument spec and its README alike (private ones: role__name)."""
    defaults = {name for name in role_defaults(role) if "__" not in name}
    readme = (role / "README.md").read_text()
    assert sorted(defaults - role_options(role)) == [], f"defaults of {role.name} missing in its argument spec"
    assert sorted(name for name in defaults if f"`{name}`" not in readme) == [], f"{role.name}'s README misses them"
