"""Offline stand-in for ansible-test's get-pip bootstrap script.

ansible-test downloads get-pip.py from a host that is not reachable everywhere; it first looks for a cached copy
(~/.ansible/test/cache/get_pip_<version>.py), where scripts/sanity.sh puts this file. It installs pip from the
standard library's ensurepip, then the requested packages with pip, trusting the system CA bundle.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
DROPPED = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    ensurepip.bootstrap(upgrade=True)
    args = [arg for arg in sys.argv[1:] if arg not in DROPPED]
    if os.path.exists(CA_BUNDLE):
        with open(os.path.join(sys.prefix, "pip.conf"), "w", encoding="utf-8") as conf:
            conf.write(f"[global]\ncert = {CA_BUNDLE}\n")
        args = ["--cert", CA_BUNDLE, *args]
    if args:
        subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True)


if __name__ == "__main__":
    main()
