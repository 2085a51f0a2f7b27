# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``playbooks/job.yml`` is given, checked on the controller before anything is sent to the cluster.

Pure functions on the controller's files and strings, no Disco and no AWS call:

- the job file exists, is Python, and defines a Disco job: a class deriving from ``Job`` (``disco.job.Job``,
  ``disco.core.Job``, or a job class of the same file), or top-level functions ``map`` (and ``reduce``), Disco's
  tutorial form; read with ``ast`` (the file is not run here);
- each input is a local file (pushed to DDFS as a tag), a local directory (its files), an S3 URL
  (``s3://bucket/prefix``: signed URLs through ``disco_s3``), an ``http(s)://`` URL or a DDFS tag (``tag://name``);
- the output is empty (results printed), an S3 prefix or a local file to write.

Errors are ``JobInputError`` naming the field (``job``, ``job_class``, ``input``, ``output``) and the value.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any
from urllib.parse import urlsplit

# S3's rules for bucket names (general purpose buckets): 3-63 characters, lower-case letters, digits, dots and
# hyphens, beginning and ending with a letter or digit.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# DDFS tag names: up to 511 letters, digits and ``:@-_`` (LEGAL_CHARS and NAME_MAX of Disco's ddfs_util).
TAG = re.compile(r"^[A-Za-z0-9_\-:@]{1,511}$")


class JobInputError(ValueError):
    """Bad input to job.yml; ``field`` names the setting."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _classes(tree: ast.Module) -> list[str]:
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(name == "Job" or name in found for name in _base_names(node)):
            found.append(node.name)
    return found


def _functions(tree: ast.Module) -> list[str]:
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return [name for name in ("map", "reduce") if name in defined]


def job_classes(source: str, filename: str = "<job>") -> list[str]:
    """Top-level classes of ``source`` deriving from ``Job`` or from such a class of the same file, in order."""
    return _classes(ast.parse(source, filename=filename))


def job_functions(source: str, filename: str = "<job>") -> list[str]:
    """The top-level functions ``map`` and ``reduce`` of ``source`` (Disco's tutorial form of a job), in that order."""
    return _functions(ast.parse(source, filename=filename))


def check_job_file(path: str, job_class: str = "") -> dict[str, Any]:
    """What job.yml runs from ``path``: ``{"kind": "class", "name": ...}``, or ``{"kind": "functions",
    "functions": ["map", "reduce"]}`` for a module with top-level ``map`` (and ``reduce``) functions.

    ``job_class`` chooses among several job classes.
    """
    if not path:
        raise JobInputError("job", "no job file given (-e job=wordcount.py)")
    if not os.path.isfile(path):
        raise JobInputError("job", f"{path} is not a file" if os.path.exists(path) else f"{path} does not exist")
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=path)
        classes, functions = _classes(tree), _functions(tree)
    except (SyntaxError, UnicodeDecodeError, ValueError) as error:
        raise JobInputError("job", f"{path} is not Python that parses: {error}") from None
    if job_class:
        if job_class not in classes:
            has = f"it has {', '.join(classes)}" if classes else "it has none"
            raise JobInputError("job_class", f"{path} defines no job class {job_class} ({has})")
        return {"kind": "class", "name": job_class}
    if len(classes) > 1:
        raise JobInputError("job_class", f"{path} defines several jobs ({', '.join(classes)}): choose one")
    if classes:
        return {"kind": "class", "name": classes[0]}
    if "map" in functions:
        return {"kind": "functions", "functions": functions}
    raise JobInputError(
        "job",
        f"{path} defines no Disco job: a class deriving from disco.job.Job, or top-level functions map (and reduce)",
    )


def _s3(value: str, field: str) -> dict[str, str]:
    parts = urlsplit(value)
    if not BUCKET.match(parts.netloc) or ".." in parts.netloc:
        raise JobInputError(field, f"{value}: {parts.netloc!r} is not an S3 bucket name")
    return {"kind": "s3", "url": value, "bucket": parts.netloc, "prefix": parts.path.lstrip("/")}


def classify_input(value: str) -> dict[str, Any]:
    """One input: ``kind`` file, directory, s3, http or tag, with what the runner needs of it."""
    text = str(value).strip()
    if not text:
        raise JobInputError("input", "an empty input")
    scheme = urlsplit(text).scheme.lower()
    if scheme == "s3":
        return _s3(text, "input")
    if scheme in ("http", "https"):
        if not urlsplit(text).netloc:
            raise JobInputError("input", f"{text}: an http URL with no host")
        return {"kind": "http", "url": text}
    if scheme == "tag":
        name = text[len("tag://") :]
        if not TAG.match(name):
            raise JobInputError("input", f"{text}: not a DDFS tag name (up to 511 letters, digits and :@-_)")
        return {"kind": "tag", "url": text, "tag": name}
    if "://" in text:
        raise JobInputError("input", f"{text}: neither a local file, an s3:// nor an http(s):// URL, nor a tag://")
    if os.path.isdir(text):
        directory = os.path.abspath(text)
        files = [
            path for path in sorted(os.path.join(directory, n) for n in os.listdir(directory)) if os.path.isfile(path)
        ]
        if not files:
            raise JobInputError("input", f"{text} is a directory with no file in it")
        return {"kind": "directory", "path": directory, "files": files}
    if os.path.isfile(text):
        return {"kind": "file", "path": os.path.abspath(text)}
    raise JobInputError("input", f"{text} is no local file, and neither an s3:// nor an http(s):// URL nor a tag://")


def classify_inputs(values: Any) -> list[dict[str, Any]]:
    """The inputs as given: a list, or one string of comma-separated inputs; none is allowed (the job's own)."""
    if values is None or values == "":
        return []
    if isinstance(values, str):
        values = [part for part in values.split(",") if part.strip()]
    if not isinstance(values, list):
        raise JobInputError("input", f"a list or a comma-separated string, not {type(values).__name__}")
    return [classify_input(value) for value in values]


def classify_output(value: Any) -> dict[str, Any]:
    """The output: none (results printed), ``s3`` (a prefix the job writes through disco_s3) or a local ``file``."""
    text = "" if value is None else str(value).strip()
    if not text:
        return {"kind": "none"}
    scheme = urlsplit(text).scheme.lower()
    if scheme == "s3":
        return _s3(text, "output")
    if "://" in text:
        raise JobInputError("output", f"{text}: neither a local file nor an s3:// prefix")
    path = os.path.abspath(text)
    if os.path.isdir(path):
        raise JobInputError("output", f"{text} is a directory: name a file to write the results to")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise JobInputError("output", f"{text}: its directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise JobInputError("output", f"{text}: its directory {parent} is not writable")
    return {"kind": "file", "path": path}
