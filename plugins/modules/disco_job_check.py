#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check what playbooks/job.yml is given, on the controller, before anything is sent to the cluster."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation strings before the imports

DOCUMENTATION = r"""
---
module: disco_job_check
short_description: Check a Disco job file, its inputs and its output before anything is sent to the cluster
version_added: 0.1.0
description:
  - Reads the job file with Python's C(ast), without running it. It must define a Disco job, a class deriving
    from C(Job) or top-level functions C(map) (and C(reduce)), and be importable by its file name.
  - Classifies each input (a local file, a local directory of files, C(s3://bucket/prefix), an C(http(s)://) URL,
    a DDFS C(tag://name)) and the output (none, C(s3://bucket/prefix) or a local file to write).
  - Fails with a message naming the field (C(job), C(job_class), C(input), C(output)) and the value.
  - Runs on the controller only; makes no call to Disco or AWS.
author:
  - disposable.disco developers (@disposable-disco)
options:
  job:
    description: Path of the job file on the controller.
    type: path
    required: true
  job_class:
    description: The job class to run when the file defines several.
    type: str
    default: ""
  input:
    description:
      - The inputs, a list or one string of comma-separated inputs; none leaves them to the job class.
    type: raw
  output:
    description: Where the results go; empty prints where they are.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description: Reads files only.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Check the job before anything is sent
  disposable.disco.disco_job_check:
    job: wordcount.py
    input: [./texts/, s3://my-bucket/logs/2026/]
    output: counts.tsv
  register: checked
"""

RETURN = r"""
job:
  description: What the file defines, C(kind) class (with C(name)) or functions (with C(functions)), and C(path).
  returned: success
  type: dict
inputs:
  description: Each input with its C(kind) (file, directory, s3, http, tag) and what the runner needs of it.
  returned: success
  type: list
  elements: dict
local_files:
  description: The local files among the inputs (a directory's files included), absolute, to push to DDFS.
  returned: success
  type: list
  elements: str
output:
  description: The output, C(kind) none, s3 (with C(bucket), C(prefix)) or file (with C(path)).
  returned: success
  type: dict
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.disposable.disco.plugins.module_utils.disco_job import (
    JobInputError,
    check_job_file,
    classify_inputs,
    classify_output,
)

MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def local_files(inputs: list[dict]) -> list[str]:
    files: list[str] = []
    for entry in inputs:
        if entry["kind"] == "file":
            files.append(entry["path"])
        elif entry["kind"] == "directory":
            files.extend(entry["files"])
    return files


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "job": {"type": "path", "required": True},
            "job_class": {"type": "str", "default": ""},
            "input": {"type": "raw"},
            "output": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        job = check_job_file(params["job"], params["job_class"])
        stem = os.path.splitext(os.path.basename(params["job"]))[0]
        if not MODULE_NAME.match(stem) or not params["job"].endswith(".py"):
            raise JobInputError(
                "job",
                f"{params['job']}: Disco ships the job's module by its name, so the file must be NAME.py with NAME"
                " a Python identifier (letters, digits, _)",
            )
        inputs = classify_inputs(params["input"])
        output = classify_output(params["output"])
    except JobInputError as error:
        module.fail_json(msg=str(error), field=error.field)
    job["path"] = os.path.abspath(params["job"])
    module.exit_json(changed=False, job=job, inputs=inputs, local_files=local_files(inputs), output=output)


if __name__ == "__main__":
    main()
