"""FlyDnsDouble: Fly's internal DNS for Machines, as far as the service asks it.

Fly docs (networking/private-networking): `<machine id>.vm.<app>.internal` has an AAAA record,
the Machine's 6PN address, while that Machine is started; a name nobody has is NXDOMAIN. This
answers exactly that over UDP on 127.0.0.1, for the Machines its owner says are running.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from collections.abc import Callable

AAAA = 28


def _question(data: bytes) -> tuple[str, int, int]:
    """(name, qtype, end of the question) of a query with one question."""
    labels, at = [], 12
    while data[at]:
        length = data[at]
        labels.append(data[at + 1 : at + 1 + length].decode("ascii"))
        at += 1 + length
    qtype = struct.unpack("!H", data[at + 1 : at + 3])[0]
    return ".".join(labels).lower(), qtype, at + 5


class _Server(asyncio.DatagramProtocol):
    def __init__(self, owner: FlyDnsDouble) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.owner.answer(data), addr)


class FlyDnsDouble:
    """`async with FlyDnsDouble(app, running=lambda: {...}) as dns:`; `dns.server` for settings."""

    def __init__(self, app: str, running: Callable[[], set[str]]) -> None:
        self.app = app
        self._running = running
        self.queries: list[str] = []
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def server(self) -> str:
        """What FLY_DNS_SERVER is set to."""
        return f"127.0.0.1:{self.port}"

    def address_of(self, machine_id: str) -> str | None:
        if machine_id not in self._running():
            return None
        # A 6PN-looking address, unique per Machine (fdaa:<org>:<...>); never dialled here.
        digest = int(machine_id, 16) if all(c in "0123456789abcdef" for c in machine_id) else 1
        return str(ipaddress.IPv6Address((0xFDAA << 112) | (digest & (2**64 - 1))))

    def answer(self, data: bytes) -> bytes:
        qid, flags = struct.unpack("!HH", data[:4])
        name, qtype, end = _question(data)
        self.queries.append(name)
        question = data[12:end]
        suffix = f".vm.{self.app}.internal"
        address = None
        if name.endswith(suffix):
            address = self.address_of(name.removesuffix(suffix))
        rd = flags & 0x0100
        if address is None:
            header = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | 3, 1, 0, 0, 0)
            return header + question
        if qtype != AAAA:  # the name exists, but has only an AAAA record: NOERROR, no answer
            return struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080, 1, 0, 0, 0) + question
        header = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080, 1, 1, 0, 0)
        record = (
            b"\xc0\x0c"  # the name: a pointer to the question's
            + struct.pack("!HHIH", AAAA, 1, 5, 16)
            + ipaddress.IPv6Address(address).packed
        )
        return header + question + record

    async def __aenter__(self) -> FlyDnsDouble:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Server(self), local_addr=("127.0.0.1", 0)
        )
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()
