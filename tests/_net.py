"""Which addresses a TCP port listens on, from /proc/net (no extra tools needed)."""

from __future__ import annotations

import ipaddress
import socket


def listening_addresses(port: int) -> set[str]:
    """Every local address with a socket in LISTEN state on `port` ("0.0.0.0" / "::" = all)."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:   # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(str(ipaddress.ip_address(raw)) if family == socket.AF_INET
                      else str(ipaddress.IPv6Address(raw)))
    return found
