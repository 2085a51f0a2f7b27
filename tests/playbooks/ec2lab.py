"""The provisioning tests' lab: run the real ansible-playbook against moto's server and read what happened."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from support.motoserver import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION, MotoServer

REPO = Path(__file__).resolve().parents[2]
TAG_KEY = "disposabledisco"
AMI = "ami-12c6146b"  # one of moto's default AMIs
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
READ_ONLY = re.compile(r"^(Describe|Get|List)")


def run_in_repo(args: list[str], env: dict[str, str], timeout: float | None = 300) -> subprocess.CompletedProcess[str]:
    """``args`` (ansible-playbook ...) run from the repository with ``env``, output captured, whatever the exit code."""
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class Run:
    """One ansible-playbook (or ansible-inventory) run: exit code, output, recap and the AWS calls it made."""

    returncode: int
    output: str
    calls: list[str]
    stdout: str = ""
    changed: int | None = None
    failed: int | None = None

    @property
    def mutating_calls(self) -> list[str]:
        return [call for call in self.calls if not READ_ONLY.match(call)]

    def ok(self) -> Run:
        assert self.returncode == 0, self.output[-6000:]
        return self


@dataclass
class Lab:
    """A moto server plus the means to run the project's playbooks against it with a configuration."""

    moto: MotoServer
    env: dict[str, str]
    workdir: Path
    config: dict[str, Any] = field(default_factory=dict)

    def ec2(self) -> Any:
        return self.moto.client("ec2")

    def command(self, args: list[str], env: dict[str, str] | None = None) -> Run:
        self.moto.start_recording()
        result = run_in_repo(args, env or self.env, timeout=600)
        output = result.stdout + result.stderr
        run = Run(returncode=result.returncode, output=output, calls=self.moto.calls(), stdout=result.stdout)
        recap = RECAP.findall(result.stdout)
        if recap:
            run.changed, run.failed = int(recap[-1][1]), int(recap[-1][3])
        return run

    def playbook(self, playbook: str, *extra: str, config: dict[str, Any] | None = None, **overrides: Any) -> Run:
        """ansible-playbook <playbook> -e @config.json [extra...] with the lab's configuration plus ``overrides``."""
        settings = {**self.config, **(config or {}), **overrides}
        path = self.workdir / "config.json"
        path.write_text(json.dumps(settings))
        return self.command(["ansible-playbook", playbook, "-e", f"@{path}", *extra])

    def spawn(self, playbook: str, log: Path, *extra: str, **overrides: Any) -> subprocess.Popen:
        """Start ansible-playbook in its own process group (to be killed as a whole), output to ``log``."""
        settings = {**self.config, **overrides}
        path = self.workdir / "config.json"
        path.write_text(json.dumps(settings))
        self.moto.start_recording()
        with log.open("w") as out:
            return subprocess.Popen(
                ["ansible-playbook", playbook, "-e", f"@{path}", *extra],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def launch(self, *extra: str, **overrides: Any) -> Run:
        return self.playbook("playbooks/launch.yml", "--tags", "provision", *extra, **overrides)

    def teardown(self, *extra: str, **overrides: Any) -> Run:
        return self.playbook("playbooks/teardown.yml", *extra, **overrides)

    # --- what EC2 holds -------------------------------------------------------------------------------------

    def instances(self, cluster: str | None = None, states: tuple[str, ...] = ("pending", "running")) -> list[dict]:
        filters = [{"Name": "instance-state-name", "Values": list(states)}]
        if cluster:
            filters.append({"Name": f"tag:{TAG_KEY}", "Values": [cluster]})
        pages = self.ec2().describe_instances(Filters=filters)["Reservations"]
        return [instance for page in pages for instance in page["Instances"]]

    def launch_templates(self, cluster: str) -> list[dict]:
        filters = [{"Name": f"tag:{TAG_KEY}", "Values": [cluster]}]
        return self.ec2().describe_launch_templates(Filters=filters)["LaunchTemplates"]

    def open_requests(self, exclude: list[str] | tuple[str, ...] = ()) -> list[dict]:
        """Every open spot request of the account (any cluster, tagged or not), but those in ``exclude``."""
        found = self.ec2().describe_spot_instance_requests()["SpotInstanceRequests"]
        return [r for r in found if r["State"] == "open" and r["SpotInstanceRequestId"] not in exclude]

    def requests(self, cluster: str | None = None) -> list[dict]:
        filters = [{"Name": f"tag:{TAG_KEY}", "Values": [cluster]}] if cluster else []
        return self.ec2().describe_spot_instance_requests(Filters=filters)["SpotInstanceRequests"]

    def legacy_open_request(self, cluster: str) -> Any:
        """An open spot request of a version before 0.2 (tagged as a slave of the cluster's default group, never
        fulfilled: capacity-not-available), as moto holds it; launch.yml must cancel it."""
        tags = [
            {"Key": TAG_KEY, "Value": cluster},
            {"Key": "disco-role", "Value": "slave"},
            {"Key": "disco-group", "Value": "default"},
        ]
        legacy = self.ec2().request_spot_instances(
            InstanceCount=1,
            LaunchSpecification={"ImageId": AMI, "InstanceType": "m5.large"},
            TagSpecifications=[{"ResourceType": "spot-instances-request", "Tags": tags}],
        )["SpotInstanceRequests"][0]
        held = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].spot_instance_requests[legacy["SpotInstanceRequestId"]]
        held.instance.terminate()  # as if it had never been fulfilled
        held.state, held._status_code, held.status_message = "open", "capacity-not-available", "moto says no capacity"
        return held


def tags_of(resource: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def by_role(instances: list[dict], role: str, group: str | None = None) -> list[dict]:
    return [
        i
        for i in instances
        if tags_of(i).get("disco-role") == role and (group is None or tags_of(i).get("disco-group") == group)
    ]


def base_config(name: str) -> dict[str, Any]:
    """A valid configuration with explicit (fake) credentials, so that the no_log paths are exercised."""
    return {
        "disco_cluster_name": name,
        "disco_ami": AMI,
        "disco_instance_type": "m5.large",
        "disco_ssh_cidrs": ["198.51.100.0/24"],
        "disco_max_price": "0.05",
        "disco_key_name": "disco-test",
        "disco_aws_access_key": FAKE_ACCESS_KEY,
        "disco_aws_secret_key": FAKE_SECRET_KEY,
        "disco_ec2_poll_interval": 1,
    }
