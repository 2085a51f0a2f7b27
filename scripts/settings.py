# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write every file that describes the cluster settings from the one table, ``FIELDS``.

``FIELDS`` in ``plugins/plugin_utils/cluster_config.py`` defines each setting once: its name, its rule, its
default and its description (the original ``config.json`` key comes from ``LEGACY_TO_NATIVE`` there). From it this
script writes the role ``disco``'s ``defaults/main.yml`` and ``meta/argument_specs.yml``, the settings table of
``roles/disco/README.md`` and of the top-level ``README.md`` (between markers). ``playbooks/create_config.yml``
renders its sample from the argument spec.

    python3 scripts/settings.py           # rewrite the files
    python3 scripts/settings.py --check   # exit 1, naming each file, when one differs from what FIELDS says
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "plugins/plugin_utils/cluster_config.py"
BEGIN = "<!-- settings: written by scripts/settings.py from FIELDS (plugins/plugin_utils/cluster_config.py) -->"
END = "<!-- /settings -->"
WIDTH = 116


def load_rules() -> ModuleType:
    """The rules module, loaded from its file (it needs only the standard library)."""
    spec = importlib.util.spec_from_file_location("cluster_config", RULES)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def yaml_value(value: Any) -> str:
    """A default as YAML: JSON's forms are YAML's, quoted strings included."""
    return json.dumps(value)


def doc_with_key(rules: ModuleType, name: str, doc: str) -> str:
    legacy = rules.NATIVE_TO_LEGACY.get(name)
    return f"[{legacy}] {doc}" if legacy else doc


def defaults_file(rules: ModuleType) -> str:
    lines = [
        "---",
        "# The cluster settings, written by scripts/settings.py from FIELDS in plugins/plugin_utils/cluster_config.py",
        "# (edit them there). Where the original disposabledisco config.json had a key for a setting, that upper-case",
        "# key works too (shown in brackets). Validation runs before any EC2 call: roles/disco/README.md.",
        "",
    ]
    for field in rules.FIELDS.values():
        comment = textwrap.wrap(doc_with_key(rules, field.name, field.doc), WIDTH - 2)
        lines += [f"# {line}" for line in comment]
        if isinstance(field.default, list) and field.default:
            lines.append(f"{field.name}:")
            lines += [f"  - {yaml_value(item)}" for item in field.default]
        else:
            lines.append(f"{field.name}: {yaml_value(field.default)}")
    return "\n".join(lines) + "\n"


def argument_specs_file(rules: ModuleType) -> str:
    lines = [
        "---",
        "# Written by scripts/settings.py from FIELDS in plugins/plugin_utils/cluster_config.py: edit them there.",
        "argument_specs:",
        "  main:",
        "    short_description: Validate the cluster configuration and export it as facts",
        "    description:",
        "      - Reads the native C(disco_*) settings below and the original disposabledisco C(config.json) keys",
        "        (upper case), checks every value, and sets the facts C(disco_cluster) (the normalised settings",
        "        without the AWS keys; it carries C(post_init), the user's script, so it is never printed whole) and",
        "        C(disco_cluster_aws) (the AWS keys).",
        "      - Runs on localhost before any EC2 call; an invalid value stops the play with one message per problem,",
        "        naming the field as it was written.",
        "      - Every type is C(raw) so that one validator speaks, the role's action plugin, with the rule of each",
        "        setting (roles/disco/README.md); the description says what a value may be.",
        "    author:",
        "      - disposable.disco developers (@disposable-disco)",
        "    options:",
    ]
    for field in rules.FIELDS.values():
        lines += [f"      {field.name}:", "        type: raw"]
        if field.name in rules.SECRET_FIELDS:
            lines.append("        no_log: true")
        if isinstance(field.default, list) and field.default:
            lines.append("        default:")
            lines += [f"          - {yaml_value(item)}" for item in field.default]
        else:
            lines.append(f"        default: {yaml_value(field.default)}")
        lines.append("        description:")
        text = doc_with_key(rules, field.name, field.doc)
        lines += [f"          - {json.dumps(line)}" for line in textwrap.wrap(text, WIDTH - 16)]
    return "\n".join(lines) + "\n"


def table(rules: ModuleType) -> str:
    rows = ["| native setting | original key | default | meaning |", "| --- | --- | --- | --- |"]
    for field in rules.FIELDS.values():
        legacy = rules.NATIVE_TO_LEGACY.get(field.name)
        key = f"`{legacy}`" if legacy else ""
        rows.append(f"| `{field.name}` | {key} | `{json.dumps(field.default)}` | {field.doc} |")
    renamed = ", ".join(f"`{old}` (now `{new}`)" for old, new in rules.RENAMED.items())
    rows += ["", f"Earlier names still read, with a deprecation warning: {renamed}."]
    return "\n".join(rows)


def with_table(text: str, rules: ModuleType, where: Path) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{where}: the markers {BEGIN} ... {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(rules)}\n{END}{tail}"


def wanted(rules: ModuleType) -> dict[Path, str]:
    readmes = [REPO / "README.md", REPO / "roles/disco/README.md"]
    files = {
        REPO / "roles/disco/defaults/main.yml": defaults_file(rules),
        REPO / "roles/disco/meta/argument_specs.yml": argument_specs_file(rules),
    }
    for readme in readmes:
        files[readme] = with_table(readme.read_text(), rules, readme)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report files that differ instead of writing them")
    args = parser.parse_args()
    differing = []
    for path, text in wanted(load_rules()).items():
        if path.read_text() == text:
            continue
        differing.append(path.relative_to(REPO))
        if not args.check:
            path.write_text(text)
    for path in differing:
        print(f"{path}: {'differs from FIELDS; run scripts/settings.py' if args.check else 'rewritten'}")
    return 1 if differing and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
