"""Egress-only networking for one sandbox: slirp4netns attached to its network namespace.

slirp4netns is a user-mode TCP/IP stack: the sandbox's packets become ordinary sockets opened by
slirp4netns on the host. `--disable-host-loopback` keeps the host's 127.0.0.1 out of reach, but
the host's other addresses (and its LAN, and cloud metadata servers) would still be reachable
through those sockets, so before the command starts we add `prohibit` routes for them inside the
sandbox's namespace, where the sandbox (without capabilities) cannot remove them."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from typing import IO

from shared.errors import SandboxError

# Private, carrier-grade NAT and link-local ranges (the latter holds cloud metadata servers).
DEFAULT_BLOCKED_EGRESS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
)
DNS_SERVER = "10.0.2.3"  # slirp4netns's built-in forwarder
_TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def host_networks(ip: str) -> list[str]:
    """The IPv4 networks the host has addresses in (loopback aside)."""
    done = subprocess.run(
        [ip, "-j", "-4", "addr", "show"], capture_output=True, text=True, env=_TOOL_ENV, check=False
    )
    if done.returncode != 0:
        raise SandboxError(f"`ip addr` failed, cannot list host addresses: {done.stderr.strip()}")
    networks = []
    for link in json.loads(done.stdout or "[]"):
        for addr in link.get("addr_info", []):
            net = ipaddress.ip_interface(f"{addr['local']}/{addr['prefixlen']}").network
            if not net.is_loopback:
                networks.append(str(net))
    return networks


def _prohibit_routes(cidrs: Sequence[str]) -> str:
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    v4 = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
    return "".join(f"route add prohibit {n}\n" for n in ipaddress.collapse_addresses(v4))


class Slirp:
    """One slirp4netns process serving the network namespace of `child_pid`."""

    def __init__(self, slirp4netns: str, nsenter: str, ip: str) -> None:
        self._slirp4netns = slirp4netns
        self._nsenter = nsenter
        self._ip = ip
        self._proc: subprocess.Popen[bytes] | None = None
        self._exit_w = -1
        self._log: IO[bytes] | None = None

    def start(self, child_pid: int, blocked: Sequence[str]) -> None:
        """Blocks `blocked` plus the host's own networks, then waits until slirp4netns is up."""
        routes = _prohibit_routes([*blocked, *host_networks(self._ip)])
        done = subprocess.run(
            [self._nsenter, f"--net=/proc/{child_pid}/ns/net", self._ip, "-batch", "-"],
            input=routes.encode(),
            capture_output=True,
            env=_TOOL_ENV,
            check=False,
        )
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()
            raise SandboxError(f"could not fence the sandbox network off the host: {err}")
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        argv = [
            self._slirp4netns,
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            "--enable-sandbox",
            "--enable-seccomp",
            f"--ready-fd={ready_w}",
            f"--exit-fd={exit_r}",
            # By path: given a pid, slirp4netns would also join that process's user namespace,
            # which with --disable-userns is a nested one without rights over the network.
            "--netns-type=path",
            f"/proc/{child_pid}/ns/net",
            "tap0",
        ]
        # A file, not a pipe: nobody reads slirp4netns's chatter while it runs, and a full pipe
        # would stall it.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(ready_w, exit_r),
                env=_TOOL_ENV,
            )
        finally:
            os.close(ready_w)
            os.close(exit_r)
        with os.fdopen(ready_r, "rb") as ready:
            started = ready.read(1) == b"1"
        if not started:
            self.stop(keep_log=True)
            message = self._read_log()
            self.stop()
            raise SandboxError(f"slirp4netns failed to start: {message}")

    def stop(self, keep_log: bool = False) -> None:
        """Closing the exit fd tells slirp4netns to quit; it is killed if it lingers."""
        if self._exit_w >= 0:
            os.close(self._exit_w)
            self._exit_w = -1
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None and not keep_log:
            self._log.close()
            self._log = None

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()[-2000:]
