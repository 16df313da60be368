"""Which names look like they hold secrets.

Used by runners whose outputs carry values named by the user's environment
(``env_vars``): a value whose *name* looks secret is reported to the runtime
for masking even though nobody declared it sensitive. Over-masking is the safe
mistake, so the test is a plain case-insensitive substring match.
"""

from __future__ import annotations

# SPEC §4: *PASS*, *TOKEN*, *SECRET*, *KEY*.
SECRET_NAME_PARTS: tuple[str, ...] = ("PASS", "TOKEN", "SECRET", "KEY")


def looks_secret(name: str) -> bool:
    """True when ``name`` contains PASS, TOKEN, SECRET or KEY, in any case."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)
