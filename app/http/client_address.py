"""The client's address, as the sign-in throttle counts it and the request log shows it: an IP address, or "unknown".

The ASGI scope's `client` is the peer of the connection, unless the peer is
one of TRUSTED_PROXIES: then uvicorn's ProxyHeadersMiddleware has replaced it
with the host X-Forwarded-For names (the first entry with `*`, else the
nearest one not itself a trusted proxy; a `:port` or `[...]` cut off), and
that is whatever text the client wrote there. It may be 100 characters long
(longer than the failure table's address column, which made a wrong password
a 422 that was never counted), `<script>`, or a list of a thousand hops.

So the address used anywhere is `client_address(scope)`: the host parsed as
an IP address and written in one normal form (lower case, zeros compressed,
an IPv6 zone dropped, an IPv4-mapped IPv6 address as the IPv4 one), so that
one client is one address however its proxy spells it; or UNKNOWN when there
is no client or its host is no IP address. Clients sending no usable address
thus share one throttle bucket (docs/explanation/security.md), and no raw header
text reaches the database or a log line.
"""

import ipaddress
from functools import lru_cache

from starlette.types import Scope

UNKNOWN = "unknown"

# The longest text an IP address can take: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
# Longer is no address, and is refused before parsing or caching it.
LONGEST_ADDRESS_TEXT = 45

# Enough for the distinct clients of a busy few minutes; any text a client
# sends is at most LONGEST_ADDRESS_TEXT characters, so the cache stays small.
_NORMALIZED_KEPT = 4096


def client_address(scope: Scope) -> str:
    """The request's client as a normalised IP address, or UNKNOWN; never the raw header text."""
    client = scope.get("client")
    if not client:
        return UNKNOWN
    host = client[0]
    if not isinstance(host, str) or len(host) > LONGEST_ADDRESS_TEXT:
        return UNKNOWN
    return _normalized(host)


@lru_cache(maxsize=_NORMALIZED_KEPT)
def _normalized(host: str) -> str:
    # Cached: parsing costs microseconds, and the same clients come back with every request.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if address.scope_id is not None:  # fe80::1%eth0: the zone names our interface, not the client
            return str(ipaddress.IPv6Address(int(address)))
    return str(address)
