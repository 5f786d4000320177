"""One question to Fly's internal DNS: does this name have an AAAA record?

Fly's internal DNS answers `<machine id>.vm.<app>.internal` with the Machine's 6PN address only
while that Machine is started (Fly docs, networking/private-networking), so one AAAA query is
how a Machine tells whether another one still runs. dnspython's async resolver asks it, pointed
at FLY_DNS_SERVER (Fly's resolver, fdaa::3, on every Machine; a test's own server in tests)
rather than at the system's resolv.conf, and with no cache: the caller keeps its own, short one.
"""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.resolver


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


def resolver_for(server: str, timeout: float) -> dns.asyncresolver.Resolver:
    """A resolver that asks `server` alone, and gives up after `timeout` seconds in all."""
    host, port = parse_server(server)
    resolver = dns.asyncresolver.Resolver(configure=False)  # not the system's resolv.conf
    resolver.nameservers = [host]
    resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


async def has_aaaa(server: str, name: str, timeout: float) -> bool:
    """True when `name` has an AAAA record, False when it has none (or does not exist).

    Raises DnsError when the server gives no usable answer within `timeout`.
    """
    resolver = resolver_for(server, timeout)
    try:
        await resolver.resolve(name, "AAAA", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return False
    except dns.exception.DNSException as exc:
        raise DnsError(type(exc).__name__) from exc
    return True
