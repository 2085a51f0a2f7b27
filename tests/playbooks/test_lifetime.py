"""The cluster ends itself (issue 14): the first launch is kept in the disco-started tag of every node, given at
creation and kept by re-runs (a scaled group, a replaced node), the launch templates make instance-initiated
shutdown terminate the instance, and the plan and status.yml say when the cluster ends itself."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from ec2lab import base_config as _base_config
from ec2lab import by_role, tags_of

pytestmark = pytest.mark.slow

NAME = "life-alpha"
STARTED = "disco-started"


def flat(output: str) -> str:
    return re.sub(r"\s+", " ", output).replace("''", "'")


def started_tags(lab) -> set[str]:
    return {tags_of(instance).get(STARTED, "") for instance in lab.instances(NAME)}


@pytest.fixture(scope="module")
def lab(module_lab):
    module_lab.config = {**_base_config(NAME), "disco_num_slaves": 1, "disco_max_lifetime": 8}
    return module_lab


def test_every_node_is_tagged_at_birth_with_the_first_launch(lab):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run = lab.launch().ok()
    (started,) = started_tags(lab)
    assert before <= dt.datetime.fromisoformat(started.replace("Z", "+00:00")) <= dt.datetime.now(dt.UTC)
    assert "CreateTags" not in run.calls, "tagged at creation (the fleet's tag specifications), not afterwards"
    assert "Ends itself: after 60 min without a Disco job (disco_idle_timeout)" in flat(run.output)
    assert f"8 h launched at {started} (disco_max_lifetime)" in flat(run.output)
    # The templates stay the same from launch to launch: the tag is the fleet's, not the template's.
    for template in lab.launch_templates(NAME):
        assert STARTED not in tags_of(template)
        data = lab.ec2().describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
        (version,) = data["LaunchTemplateVersions"]
        assert version["LaunchTemplateData"]["InstanceInitiatedShutdownBehavior"] == "terminate"
        assert "TagSpecifications" not in version["LaunchTemplateData"] or all(
            STARTED not in tags_of(spec) for spec in version["LaunchTemplateData"]["TagSpecifications"]
        )


def test_nodes_added_later_keep_the_clusters_first_launch(lab):
    # The cluster has run for three hours: its nodes carry that first launch.
    three_hours_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).replace(microsecond=0)
    stamp = three_hours_ago.isoformat().replace("+00:00", "Z")
    ids = [instance["InstanceId"] for instance in lab.instances(NAME)]
    lab.ec2().create_tags(Resources=ids, Tags=[{"Key": STARTED, "Value": stamp}])
    templates = {t["LaunchTemplateId"] for t in lab.launch_templates(NAME)}
    run = lab.launch(disco_num_slaves=3).ok()
    assert len(by_role(lab.instances(NAME), "slave")) == 3
    assert started_tags(lab) == {stamp}
    assert {t["LaunchTemplateId"] for t in lab.launch_templates(NAME)} == templates, "no new template"
    assert re.search(r"\(in 4 h 59 min|\(in 5 h 0 min", flat(run.output)), run.output


def test_status_shows_the_time_left(lab):
    run = lab.playbook("playbooks/status.yml", disco_num_slaves=3).ok()
    assert run.mutating_calls == [], run.calls
    text = flat(run.output)
    assert "Ends itself: after 60 min without a Disco job (disco_idle_timeout)" in text
    assert re.search(r"and at \S+Z \(in (4 h 59|5 h 0) min\), 8 h launched at \S+Z \(disco_max_lifetime\)", text)
    run = lab.playbook("playbooks/status.yml", disco_num_slaves=3, disco_idle_timeout=0, disco_max_lifetime=0).ok()
    text = flat(run.output)
    assert "Ends itself: never for want of jobs (disco_idle_timeout: 0)" in text
    assert "no lifetime limit (disco_max_lifetime: 0)" in text


def test_a_cluster_that_ended_starts_afresh(lab):
    ids = [instance["InstanceId"] for instance in lab.instances(NAME)]
    lab.ec2().terminate_instances(InstanceIds=ids)  # as when the cluster ended itself: every node powered off
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lab.launch(disco_num_slaves=1).ok()
    (started,) = started_tags(lab)
    assert dt.datetime.fromisoformat(started.replace("Z", "+00:00")) >= before
    lab.teardown().ok()
    assert lab.instances(NAME) == [] and lab.launch_templates(NAME) == []
