# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check that the system python3 imports each pip requirement in a version that satisfies it.

Usage: requirements_check.py REQUIREMENT ...   (run by /usr/bin/python3, after the venv's .pth is in place)
Prints JSON: {"problems": ["requirement: what is wrong", ...], "skipped": [requirements not checked]}.
apt's packages come first on the system python3's path, so an apt package can hide a newer pip one.
"""

import json
import sys
from importlib import metadata

try:
    from packaging.requirements import InvalidRequirement, Requirement
except ImportError:  # python3-packaging is not installed: use the copy inside pip (the venv's pip is on the path)
    try:
        from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    except ImportError:
        Requirement = None


def main(lines: list[str]) -> int:
    problems: list[str] = []
    skipped: list[str] = []
    if Requirement is None:
        json.dump({"problems": problems, "skipped": lines}, sys.stdout)
        return 0
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            skipped.append(line)  # -e, a bare URL or a path: pip installed it, there is no spec to check
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            found = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{line}: python3 does not find {requirement.name} at all")
            continue
        version = found.version
        where = str(found.locate_file(""))
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            problems.append(
                f"{line}: python3 imports {requirement.name} {version} from {where}, which does not satisfy it "
                "(a Debian package comes first on python3's path: drop it from the packages or relax the requirement)"
            )
    json.dump({"problems": problems, "skipped": skipped}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
