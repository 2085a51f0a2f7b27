"""disco_s3 as the role disco_jobtools installs it: the package's modules copied into a directory that is, with the
standard library, all a fresh python3 has on its path (no site-packages, so no boto3: a node before
python3-boto3). ``import disco_s3`` gives every public name, and the stream functions rebuilt from their code
alone, as Disco's dPickle rebuilds job functions on a node (no module globals), still find their implementation.
Run by each of the nodes' Pythons found here: 3.11 (Debian 12) and 3.13 (Debian 13)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import disco_s3
import pytest

PACKAGE = Path(disco_s3.__file__).parent
DEBIAN = {"3.11": "12", "3.13": "13"}
# Every public name and the module that defines it. STAR: the names of `from disco_s3 import *` (those of the
# single file's __all__, kept). MORE: used as disco_s3.NAME too, by roles/disco_job's runner, the tests, and the
# stream functions of any version of disco_s3 (the single file's too) rebuilt bare on a node.
STAR = {
    "HAS_BOTO3": "disco_s3.common",
    "DiscoS3Error": "disco_s3.common",
    "S3OutputError": "disco_s3.common",
    "S3OutputOptions": "disco_s3.streams",
    "S3LineOutput": "disco_s3.streams",
    "S3RawOutput": "disco_s3.streams",
    "open_s3_output": "disco_s3.streams",
    "s3_line_output_stream": "disco_s3.streams",
    "s3_raw_output_stream": "disco_s3.streams",
    "list_s3_keys": "disco_s3.inputs",
    "s3_input_urls": "disco_s3.inputs",
    "MagicList": "disco_s3.magiclist",
}
MORE = {
    "S3Connection": "disco_s3.common",
    "param": "disco_s3.common",
    "LOG": "disco_s3.common",
    "BOTO3_IMPORT_ERROR": "disco_s3.common",
    "_open_disco_s3_output": "disco_s3.streams",
}

NODE = """
import json
import logging
import marshal
import sys
import types

sys.path.insert(0, sys.argv[1])
import disco_s3

names = json.loads(sys.argv[2])
errors = {}
for name in ("s3_line_output_stream", "s3_raw_output_stream"):
    code = marshal.loads(marshal.dumps(getattr(disco_s3, name).__code__))  # the wire format of disco.dPickle
    stream = types.FunctionType(code, {"__builtins__": __builtins__})
    try:
        stream(None, 0, None, {"BUCKET_NAME": "results"})
    except disco_s3.DiscoS3Error as exc:
        errors[name] = [type(exc).__module__, str(exc)]
print(json.dumps({
    "file": disco_s3.__file__,
    "not_reexported": [  # absent from disco_s3, or another object than its module's
        name for name, module in names.items()
        if getattr(disco_s3, name, names) is not getattr(sys.modules[module], name, None)
    ],
    "all": disco_s3.__all__,
    "modules": sorted(name for name in sys.modules if name.split(".")[0] == "disco_s3"),
    "has_boto3": disco_s3.HAS_BOTO3,
    "logger": logging.getLogger("disco_s3") is disco_s3.LOG,
    "errors": errors,
}))
"""


def interpreter(version: str) -> str:
    """This Python when it is that version, else python<version> from PATH if it runs; skip when there is none."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if found:
        probe = [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        answer = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False)
        if answer.returncode == 0 and answer.stdout.strip() == version:
            return found
    pytest.skip(f"no python{version} here (Debian {DEBIAN[version]}'s python3)")


def install(dist_packages: Path) -> Path:
    """What the role does: the package's modules into <dist-packages>/disco_s3/, and nothing else."""
    target = dist_packages / "disco_s3"
    target.mkdir(parents=True)
    for module in sorted(PACKAGE.glob("*.py")):
        shutil.copy(module, target / module.name)
    return target


@pytest.mark.parametrize("version", sorted(DEBIAN))
def test_the_installed_package_alone_gives_every_name_and_bare_streams_work(version, tmp_path):
    python = interpreter(version)
    target = install(tmp_path / "dist-packages")
    result = subprocess.run(
        # -I: no PYTHON* variables, no user site, no current directory; -S: no site-packages at all
        [python, "-I", "-S", "-c", NODE, str(tmp_path / "dist-packages"), json.dumps({**STAR, **MORE})],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert seen["file"] == str(target / "__init__.py")
    assert seen["not_reexported"] == []
    assert sorted(seen["all"]) == sorted(STAR)
    assert seen["modules"] == [
        "disco_s3",
        "disco_s3.common",
        "disco_s3.inputs",
        "disco_s3.magiclist",
        "disco_s3.streams",
        "disco_s3.upload",
    ]
    assert seen["has_boto3"] is False, "imported with the standard library alone"
    assert seen["logger"], 'the package logs to the logger "disco_s3"'
    # Rebuilt bare, each stream imported its implementation from disco_s3, which went as far as wanting boto3.
    assert sorted(seen["errors"]) == ["s3_line_output_stream", "s3_raw_output_stream"]
    for name in ("s3_line_output_stream", "s3_raw_output_stream"):
        module, message = seen["errors"][name]
        assert module == "disco_s3.common"
        assert message.startswith("disco_s3 needs boto3 and botocore on this Python"), message


def test_the_package_is_python_modules_only():
    """The role copies the package's *.py: anything else in the directory would not reach the nodes."""
    shipped = {path.name for path in PACKAGE.iterdir() if path.name != "__pycache__"}
    assert shipped == {path.name for path in PACKAGE.glob("*.py")}
    assert "__init__.py" in shipped
