"""Escape battery, network: without network nothing is reachable; with egress, the host and the
private ranges (cloud metadata included) still are not, and the fence can't be taken down."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.bwrap_sandbox import BwrapSandbox
from tests.security.probes import probe, python

CONNECT = (
    "import socket\n"
    "for host, port in {targets!r}:\n"
    "    s = socket.socket(); s.settimeout(3)\n"
    "    try:\n"
    "        s.connect((host, port)); print(host, 'CONNECTED')\n"
    "    except OSError as exc:\n"
    "        print(host, 'blocked', exc.errno)\n"
)


@pytest.fixture
def listeners() -> Iterator[list[tuple[str, int]]]:
    """Real servers on the host: one on loopback, one on every address; yields the targets
    a sandbox would try (loopback, slirp's alias for the host, each host address)."""
    with socket.socket() as loopback, socket.socket() as everywhere:
        loopback.bind(("127.0.0.1", 0))
        everywhere.bind(("0.0.0.0", 0))
        loopback.listen()
        everywhere.listen()
        port, any_port = loopback.getsockname()[1], everywhere.getsockname()[1]
        targets = [("127.0.0.1", port), ("127.0.0.1", any_port), ("10.0.2.2", any_port)]
        yield targets + [(ip, any_port) for ip in _host_addresses()]


def _host_addresses() -> list[str]:
    done = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True)
    return [
        a["local"]
        for link in json.loads(done.stdout)
        for a in link.get("addr_info", [])
        if not a["local"].startswith("127.")
    ]


def test_host_services_are_unreachable_without_network(
    sandbox: BwrapSandbox, workspace: Path, listeners: list[tuple[str, int]]
) -> None:
    out = probe(sandbox, workspace, python(CONNECT.format(targets=listeners))).output
    assert "CONNECTED" not in out
    assert out.count("blocked") == len(listeners), out


def test_host_services_are_unreachable_with_egress(
    sandbox: BwrapSandbox, workspace: Path, listeners: list[tuple[str, int]]
) -> None:
    out = probe(sandbox, workspace, python(CONNECT.format(targets=listeners)), network=True).output
    assert "CONNECTED" not in out
    assert out.count("blocked") == len(listeners), out


def test_the_internet_is_unreachable_without_network(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    targets = [("1.1.1.1", 443), ("8.8.8.8", 53), ("151.101.0.223", 443)]  # the last is PyPI's
    code = CONNECT.format(targets=targets) + (
        "try:\n"
        "    print('resolved', socket.getaddrinfo('pypi.org', 443)[0][4])\n"
        "except OSError as exc:\n"
        "    print('no dns', exc)\n"
    )
    out = probe(sandbox, workspace, python(code)).output
    assert "CONNECTED" not in out and "resolved" not in out, out
    # ENETUNREACH: there is no route at all, not merely a remote refusal
    assert out.count("blocked 101") == len(targets), out


def test_cloud_metadata_and_private_ranges_are_blocked_with_egress(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    targets = [("169.254.169.254", 80), ("10.0.0.1", 80), ("192.168.1.1", 80), ("172.17.0.1", 80)]
    out = probe(sandbox, workspace, python(CONNECT.format(targets=targets)), network=True).output
    assert "CONNECTED" not in out
    # EACCES from the `prohibit` routes: refused locally, before any packet leaves
    assert out.count("blocked 13") == len(targets), out


def test_the_egress_fence_cannot_be_taken_down_from_inside(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    script = (
        "ip route del prohibit 169.254.0.0/16 && echo REMOVED; "
        "ip route flush table main && echo FLUSHED; "
        "ip addr add 10.9.9.9/24 dev tap0 && echo ADDED; "
        "ip route show | grep -c prohibit"
    )
    out = probe(sandbox, workspace, script, network=True).output
    assert "REMOVED" not in out and "FLUSHED" not in out and "ADDED" not in out, out
    assert int(out.split()[-1]) >= 5, out


def test_the_hosts_abstract_unix_sockets_are_unreachable(
    sandbox: BwrapSandbox, workspace: Path
) -> None:
    # Abstract sockets (D-Bus, X11, container runtimes use them) are not files: only a
    # separate network namespace hides them.
    name = f"\0errand-probe-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(name)
        server.listen()
        server.settimeout(0.2)
        code = (
            "import socket\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            f"    s.connect({name!r}); print('CONNECTED')\n"
            "except OSError as exc:\n"
            "    print('blocked', exc.errno)\n"
        )
        out = probe(sandbox, workspace, python(code)).output
        with pytest.raises(TimeoutError):
            server.accept()
    assert out.startswith("blocked 111"), out  # ECONNREFUSED: no such socket there


def test_raw_and_packet_sockets_are_refused(sandbox: BwrapSandbox, workspace: Path) -> None:
    code = (
        "import socket\n"
        "for family, kind, proto in [(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),\n"
        "        (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),\n"
        "        (socket.AF_PACKET, socket.SOCK_RAW, 0x0300)]:\n"
        "    try:\n"
        "        socket.socket(family, kind, proto); print('OPENED')\n"
        "    except PermissionError:\n"
        "        print('refused')\n"
    )
    for network in (False, True):
        out = probe(sandbox, workspace, python(code), network=network).output
        assert out.split() == ["refused"] * 3, out
