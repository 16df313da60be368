"""One valid set of parameters per backend action (others take none)."""

from __future__ import annotations

from typing import Any

from gridflow.backends import catalog

SAMPLE_PARAMS: dict[tuple[str, str], dict[str, Any]] = {
    ("apt", "install"): {"package": "nginx"},
    ("apt", "remove"): {"package": "nginx"},
    **{("systemd", a): {"unit": "nginx"} for a in catalog.action_names("systemd")},
    ("ping", "sleep"): {"duration": 1},
    ("test", "sleep"): {"duration": 1},
    ("cmd", "run"): {"shell": "touch should-not-exist"},
}


def sample(backend: str, action: str) -> dict[str, Any]:
    return SAMPLE_PARAMS.get((backend, action), {})
