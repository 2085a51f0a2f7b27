#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set a Disco master's node table through its HTTP API."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation strings before the imports

DOCUMENTATION = r"""
---
module: disco_nodes
short_description: Set the node table of a Disco master
version_added: 0.1.0
description:
  - Makes the node table of a running Disco master (the hosts that run tasks and hold DDFS data, and the number of
    workers on each) exactly O(nodes), through the master's HTTP API
    (C(GET /disco/ctrl/load_config_table), C(POST /disco/ctrl/save_config_table)).
  - Idempotent. The table is saved only when a host is missing, extra, or has another number of workers. The order of
    the nodes does not count, as it does not for Disco. A table that uses Disco's range notation (C(node01:node12))
    is compared host by host.
  - Retries while the master does not answer (connection refused, time-outs, server errors) for O(timeout) seconds,
    then fails naming the URL. A table the master refuses fails at once with Disco's message.
  - After saving, reads the table back and fails if it is not the one saved.
author:
  - disposable.disco developers (@disposable-disco)
options:
  url:
    description:
      - Base URL of the master's web server (C(DISCO_PORT)). Proxy settings of the environment are not used.
    type: str
    default: http://localhost:8989
  nodes:
    description:
      - The whole node table. Hosts not listed are removed from it; an empty list empties it.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description:
          - Host name as Disco knows the node, its short host name (Erlang uses C(-sname)).
          - One name, without white space or C(:) (which Disco reads as a range). Each host at most once.
        type: str
        required: true
      workers:
        description: Number of workers (task slots) Disco runs on the host.
        type: int
        required: true
  timeout:
    description: Seconds to keep trying while the master does not answer, for each request.
    type: float
    default: 30
attributes:
  check_mode:
    support: full
    description: Reads the table and reports what would change; saves nothing.
  diff_mode:
    support: full
    description: The table before and after, one C(host workers) line per node, sorted by host.
  platform:
    support: full
    platforms: posix
    description: Runs on any host that reaches the master's URL; normally on the master itself (C(delegate_to)).
notes:
  - Disco persists the table in C(DISCO_ROOT/disco_<port>.config) and starts or stops its node processes on the
    listed hosts within seconds; a host that cannot be reached stays in the table and shows as down.
  - The role M(disposable.disco.disco_nodetable) computes the table of a cluster and calls this module.
seealso:
  - name: Disco's node table
    description: The formats, as read from Disco's master/src/disco_web.erl and disco_config.erl.
    link: https://github.com/discoproject/disco/blob/master/master/src/disco_config.erl
"""

EXAMPLES = r"""
- name: Two slaves with 4 workers each
  disposable.disco.disco_nodes:
    nodes:
      - host: ip-10-0-0-5
        workers: 4
      - host: ip-10-0-0-6
        workers: 4
  delegate_to: "{{ groups['disco_master'] | first }}"
  run_once: true

- name: Check a remote master's table without changing it
  disposable.disco.disco_nodes:
    url: http://disco-master:8989
    nodes: "{{ wanted_nodes }}"
    timeout: 5
  check_mode: true
  diff: true
  register: disco_table
"""

RETURN = r"""
nodes:
  description: The table now (in check mode, the table it would be), sorted by host.
  returned: always
  type: list
  elements: dict
  sample: [{"host": "ip-10-0-0-5", "workers": 4}, {"host": "ip-10-0-0-6", "workers": 4}]
previous:
  description: The table before, ranges expanded, sorted by host; empty if it could not be parsed.
  returned: always
  type: list
  elements: dict
  sample: [{"host": "localhost", "workers": 2}]
previous_rows:
  description: The table before, exactly as the master answered it (rows of two strings).
  returned: always
  type: list
  elements: list
  sample: [["localhost", "2"]]
added:
  description: Hosts added to the table.
  returned: always
  type: list
  elements: str
  sample: ["ip-10-0-0-5", "ip-10-0-0-6"]
removed:
  description: Hosts removed from the table.
  returned: always
  type: list
  elements: str
  sample: ["localhost"]
updated:
  description: Hosts whose number of workers changed.
  returned: always
  type: list
  elements: str
  sample: []
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.disposable.disco.plugins.module_utils.disco_nodes import (
    DiscoMasterError,
    DiscoTableError,
    Table,
    as_nodes,
    check_nodes,
    compare,
    load_table,
    parse_rows,
    render,
    save_table,
    to_rows,
    wanted_table,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "url": {"type": "str", "default": "http://localhost:8989"},
    "nodes": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "host": {"type": "str", "required": True},
            "workers": {"type": "int", "required": True},
        },
    },
    "timeout": {"type": "float", "default": 30},
}


def read_current(url: str, timeout: float) -> tuple[Any, Table | None]:
    """The master's rows as answered, and the table they make (None if Disco's rows cannot be parsed)."""
    rows = load_table(url, timeout)
    try:
        return rows, parse_rows(rows)
    except ValueError:
        return rows, None


def apply(url: str, nodes: list[dict[str, Any]], timeout: float, wanted: Table) -> Table:
    """Save the nodes as the table and return the table read back; fail if it is not the one wanted."""
    save_table(url, to_rows(nodes), timeout)
    rows, after = read_current(url, timeout)
    if after != wanted:
        raise DiscoTableError(f"the Disco master at {url} saved the table but answers another one: {rows!r}")
    return after


def run(module: AnsibleModule) -> dict[str, Any]:
    """Compare the master's table with the wanted one and save it when they differ (not in check mode)."""
    params = module.params
    url, nodes, timeout = params["url"], params["nodes"], params["timeout"]
    errors = check_nodes(nodes)
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors)
    wanted = wanted_table(nodes)
    rows, current = read_current(url, timeout)
    changes = compare(current or {}, wanted)
    changed = current != wanted
    after = apply(url, nodes, timeout, wanted) if changed and not module.check_mode else wanted
    result: dict[str, Any] = {
        "changed": changed,
        "nodes": as_nodes(after),
        "previous": as_nodes(current or {}),
        "previous_rows": rows,
        **changes,
    }
    if module._diff:
        result["diff"] = {
            "before_header": f"{url} node table",
            "after_header": f"{url} node table",
            "before": render(current) if current is not None else f"{rows!r}\n",
            "after": render(wanted),
        }
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except (DiscoMasterError, DiscoTableError) as error:
        module.fail_json(msg=str(error), url=module.params["url"])


if __name__ == "__main__":
    main()
