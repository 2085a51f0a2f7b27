"""Install the collections this project needs without Ansible Galaxy.

The `ansible` package on PyPI carries amazon.aws and community.docker (and what they depend on); this script
downloads that wheel once (cached), extracts only the needed collections into <dest>/ansible_collections, and
links this repository in as disposable.disco so playbooks and molecule find it by its FQCN.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ANSIBLE_WHEEL_VERSION = "12.3.0"
COLLECTIONS = ("amazon/aws", "community/docker", "community/library_inventory_filtering_v1")


def download_wheel(cache: Path) -> Path:
    """Return the cached `ansible` wheel, downloading it with pip when missing."""
    wheel = cache / f"ansible-{ANSIBLE_WHEEL_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"[collections] downloading ansible=={ANSIBLE_WHEEL_VERSION} (once, ~55 MB)", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(cache),
                f"ansible=={ANSIBLE_WHEEL_VERSION}",
            ],
            check=True,
        )
    return wheel


def extract(wheel: Path, dest: Path) -> None:
    """Extract the wanted collections from the wheel into dest/ansible_collections (replacing older copies)."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for collection in COLLECTIONS:
            prefix = f"ansible_collections/{collection}/"
            target = dest / prefix
            if (target / "MANIFEST.json").exists():
                continue
            shutil.rmtree(target, ignore_errors=True)
            members = [n for n in names if n.startswith(prefix)]
            if not members:
                sys.exit(f"[collections] {collection} is not in {wheel.name}")
            archive.extractall(dest, members)
            print(f"[collections] installed {collection.replace('/', '.')}", file=sys.stderr)


def link_self(repo: Path, dest: Path) -> None:
    """Make this checkout importable as disposable.disco."""
    link = dest / "ansible_collections" / "disposable" / "disco"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.resolve() == repo.resolve():
            return
        link.unlink()
    link.symlink_to(repo.resolve(), target_is_directory=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, required=True, help="collections path (gets ansible_collections/)")
    parser.add_argument("--cache", type=Path, required=True, help="where the ansible wheel is kept")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    extract(download_wheel(args.cache), args.dest)
    link_self(args.repo, args.dest)


if __name__ == "__main__":
    main()
