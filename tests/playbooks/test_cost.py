"""Cost, shown (issue 14): the launch plan, --check and status.yml give the price per hour from EC2's spot price
history (the stand-in serves the prices set here), the max price, the hours run and the estimate so far."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from ec2lab import base_config as _base_config
from ec2lab import by_role

pytestmark = pytest.mark.slow

NAME = "cost-alpha"
PRICE = "0.0350"


def flat(output: str) -> str:
    """The output with Ansible's YAML line wrapping and quoting undone, so that a report line reads as printed."""
    return re.sub(r"\s+", " ", output).replace("''", "'")


@pytest.fixture(scope="module")
def lab(module_lab):
    module_lab.config = {**_base_config(NAME), "disco_num_slaves": 2, "disco_master_market": "on-demand"}
    zones = [z["ZoneName"] for z in module_lab.ec2().describe_availability_zones()["AvailabilityZones"]]
    # An older, higher price first: only the latest one counts.
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    module_lab.moto.set_spot_prices({("m5.large", zone): "0.0900" for zone in zones}, at=an_hour_ago)
    module_lab.moto.set_spot_prices({("m5.large", zone): PRICE for zone in zones})
    module_lab.moto.set_spot_prices({("m5.xlarge", zone): "0.0010" for zone in zones})  # not a type of this cluster
    return module_lab


def test_check_shows_the_price_of_what_it_would_launch_and_changes_nothing(lab):
    run = lab.launch("--check").ok()
    assert run.mutating_calls == [], run.calls
    assert run.calls.count("DescribeSpotPriceHistory") == 1, run.calls
    assert "slave/default: 2 to launch, m5.large: estimate 2 x 0.0350 = 0.0700/h" in flat(run.output)
    assert "max price 0.05" in flat(run.output)
    assert "master: 1 to launch, m5.large: on-demand (price not known to EC2's API; see the pricing page)" in flat(
        run.output
    )
    assert "total: 0.0000/h for the running spot nodes, estimate 0.0700/h with the nodes to launch" in flat(run.output)
    assert lab.instances(NAME) == []


def test_launch_shows_the_price_per_hour_in_its_plan(lab):
    run = lab.launch().ok()
    assert "estimate 2 x 0.0350 = 0.0700/h" in flat(run.output)
    assert run.calls.count("DescribeSpotPriceHistory") == 1, run.calls
    assert len(by_role(lab.instances(NAME), "slave")) == 2


def test_status_shows_hours_run_and_the_estimate_so_far(lab):
    backend = lab.moto.strict.networks._backend()
    ours = {i["InstanceId"] for i in lab.instances(NAME)}
    two_hours_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if instance.id in ours:
                instance.launch_time = two_hours_ago
    run = lab.playbook("playbooks/status.yml").ok()
    assert run.mutating_calls == [], run.calls
    assert run.calls.count("DescribeSpotPriceHistory") == 1, run.calls
    lines = re.findall(r"(?:master|slave/default) +i-\w+ [^']*h run[^']*", flat(run.output))
    slaves = [line for line in lines if line.startswith("slave/default")]
    assert len(slaves) == 2, run.output
    assert all("0.0350/h, 2.00 h run, 0.0700 so far" in line for line in slaves), slaves
    master = r"master +i-\w+ m5.large \S+ on-demand: on-demand \(price not known to EC2's API; see the pricing page\)"
    assert re.search(master + ", 2.00 h run", flat(run.output)), run.output
    assert "total: 0.0700/h for the running spot nodes" in flat(run.output)
    assert "estimate so far: 0.1400" in flat(run.output)


def test_no_op_rerun_still_shows_the_price(lab):
    run = lab.launch().ok()
    assert run.mutating_calls == [], run.calls
    assert "EC2 already matches the configuration" in flat(run.output)
    assert "2 x" in flat(run.output) and "0.0350/h" in flat(run.output)
    assert "total: 0.0700/h for the running spot nodes" in flat(run.output)


def test_the_estimate_uses_only_the_zones_of_the_cluster_subnets(lab):
    _vpc, subnets = lab.moto.custom_vpc(cidr="10.30.0.0/16", zones=2)
    ec2 = lab.ec2()
    inside = sorted(s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"])
    outside = sorted({z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]} - set(inside))
    lab.moto.set_spot_prices({("c5.large", inside[0]): "0.0400", ("c5.large", inside[1]): "0.0380"})
    lab.moto.set_spot_prices({("c5.large", outside[0]): "0.0100"})  # cheaper, but not where the cluster starts
    run = lab.launch(
        "--check", disco_cluster_name="cost-beta", disco_subnet_ids=subnets, disco_slave_instance_type="c5.large"
    ).ok()
    assert run.mutating_calls == [], run.calls
    text = flat(run.output)
    assert f"estimate 2 x 0.0380 = 0.0760/h (lowest spot price now: c5.large in {inside[1]})" in text, run.output
    assert "0.0100" not in text
