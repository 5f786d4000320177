"""A minimal DNS client for one question: does this name have an AAAA record (RFC 1035, UDP)?

Fly's internal DNS answers `<machine id>.vm.<app>.internal` with the Machine's 6PN address only
while that Machine is started (Fly docs, networking/private-networking), so one AAAA query is
how a Machine tells whether another one still runs. The service has no DNS library, and the
system resolver cannot be pointed at a test's server, hence these few lines.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct

AAAA = 28
IN = 1
NXDOMAIN = 3


class DnsError(Exception):
    """No usable answer: timeout, unreachable server, malformed reply, a server failure."""


def parse_server(server: str) -> tuple[str, int]:
    """'fdaa::3', '[fdaa::3]:53', '127.0.0.1:5353' or 'host' -> (host, port)."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.removeprefix(":") or 53)
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port)
    return server, 53


def query(name: str, qtype: int = AAAA) -> tuple[int, bytes]:
    """(message id, the query packet) for one question with recursion desired."""
    qid = secrets.randbelow(0x10000)
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    labels = b"".join(
        bytes([len(part)]) + part
        for part in (p.encode("ascii") for p in name.strip(".").split("."))
    )
    return qid, header + labels + b"\x00" + struct.pack("!HH", qtype, IN)


def _skip_name(data: bytes, at: int) -> int:
    while True:
        if at >= len(data):
            raise DnsError("truncated name")
        length = data[at]
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name
            return at + 2
        if length == 0:
            return at + 1
        at += 1 + length


def count_answers(data: bytes, qid: int, qtype: int = AAAA) -> int:
    """How many answers of `qtype` the reply holds; 0 for NXDOMAIN. Raises DnsError otherwise."""
    if len(data) < 12:
        raise DnsError("short reply")
    rid, flags, qdcount, ancount, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
    if rid != qid or not flags & 0x8000:
        raise DnsError("not our reply")
    rcode = flags & 0x000F
    if rcode == NXDOMAIN:
        return 0
    if rcode != 0:
        raise DnsError(f"rcode {rcode}")
    at = 12
    for _ in range(qdcount):
        at = _skip_name(data, at) + 4
    found = 0
    for _ in range(ancount):
        at = _skip_name(data, at)
        if at + 10 > len(data):
            raise DnsError("truncated answer")
        rtype, _cls, _ttl, rdlength = struct.unpack("!HHIH", data[at : at + 10])
        at += 10 + rdlength
        found += rtype == qtype
    return found


class _Reply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def has_aaaa(server: str, name: str, timeout: float) -> bool:
    """True when `name` has an AAAA record, False when it has none (or does not exist).

    Raises DnsError when the server gives no usable answer within `timeout`.
    """
    host, port = parse_server(server)
    qid, packet = query(name)
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_UNSPEC
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_datagram_endpoint(
                _Reply, remote_addr=(host, port), family=family
            )
            try:
                transport.sendto(packet)
                data = await protocol.reply
            finally:
                transport.close()
    except (TimeoutError, OSError) as exc:
        raise DnsError(type(exc).__name__) from exc
    return count_answers(data, qid) > 0
