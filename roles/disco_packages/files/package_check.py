# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check Debian package names against the node's apt cache before anything is installed.

Usage: package_check.py [--renames '{"OLD": "NEW", ...}'] NAME[=VERSION] ...
Prints JSON: {"install": [names to install], "renamed": {given: used}, "missing": {given: hint}}.
A Python 2 name (python-foo) that Debian 12 no longer has is replaced by its python3-foo package when that exists.
"""

import json
import sys

import apt_pkg


def installable(cache: "apt_pkg.Cache", name: str) -> bool:
    """True when apt can install the package: it has a version, or it is a virtual package someone provides."""
    try:
        package = cache[name]
    except KeyError:
        return False
    return bool(package.version_list or package.provides_list)


def main(argv: list[str]) -> int:
    renames: dict[str, str] = {}
    if argv[:1] == ["--renames"]:
        renames, argv = json.loads(argv[1]), argv[2:]
    names = argv
    apt_pkg.init()
    cache = apt_pkg.Cache(None)
    result: dict = {"install": [], "renamed": {}, "missing": {}}
    for given in names:
        name = given.partition("=")[0]
        if installable(cache, name):
            entry = given
        elif name in renames and installable(cache, renames[name]):
            entry = renames[name]  # a version of the old package means nothing for its replacement
        elif name.startswith("python-") and installable(cache, "python3-" + name.removeprefix("python-")):
            entry = "python3-" + name.removeprefix("python-")
        else:
            hint = "no such package in the apt sources of this node"
            if name.startswith("python-") or name in renames:
                hint += " (Debian 12 has no Python 2 packages; look for a python3- one)"
            result["missing"][given] = hint
            continue
        if entry != given:
            result["renamed"][given] = entry
        if entry not in result["install"]:
            result["install"].append(entry)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
