"""Which names look like they hold secrets.

Used by runners whose outputs carry values named by the user's environment
(``env_vars``) and by runners that send headers (``http_request``,
``socketio``): a value whose *name* looks secret is reported to the runtime
for masking even though nobody declared it sensitive. Over-masking is the safe
mistake, so the test is a plain case-insensitive substring match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# SPEC §4: *PASS*, *TOKEN*, *SECRET*, *KEY*.
SECRET_NAME_PARTS: tuple[str, ...] = ("PASS", "TOKEN", "SECRET", "KEY")


def looks_secret(name: str) -> bool:
    """True when ``name`` contains PASS, TOKEN, SECRET or KEY, in any case."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


# Header names whose values are credentials although the name does not look
# secret by the rule above.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def credential_header_values(headers: Any) -> list[str]:
    """The values of ``headers`` (a mapping, else nothing) that carry credentials:
    Authorization, Proxy-Authorization, Cookie, and names that look secret."""
    if not isinstance(headers, Mapping):
        return []
    return [
        str(v)
        for k, v in headers.items()
        if str(k).lower() in CREDENTIAL_HEADERS or looks_secret(str(k))
    ]
