"""Which runner or resource class a name in a grid or job refers to.

Built-ins are listed here by import path, so importing the registry imports no
runner (and no runner's dependencies) until one is asked for. Third parties add
theirs through entry points: the ``gridflow.runners`` group for
:class:`~gridflow.runners.base.Runner` subclasses, the ``gridflow.resources``
group for :class:`~gridflow.runners.base.Resource` subclasses (``resource
"<type>" "<name>"`` blocks); the entry point's name is the runner's or the
resource type's name. Two groups, so that listing the names loads no plugin
code. A third-party name that collides with a built-in is ignored with a
warning.
"""

from __future__ import annotations

import functools
import importlib
import logging
from importlib.metadata import entry_points
from typing import Any

from gridflow.runners.base import Resource, Runner

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gridflow.runners"
RESOURCE_ENTRY_POINT_GROUP = "gridflow.resources"

_BUILTIN_RUNNERS: dict[str, str] = {
    "print": "gridflow.runners.print_:PrintRunner",
    "env_vars": "gridflow.runners.env_vars:EnvVarsRunner",
    "http_request": "gridflow.runners.http_request:HttpRequestRunner",
    "socketio": "gridflow.runners.socketio:SocketIORunner",
    "cmd": "gridflow.runners.cmd:CmdRunner",
    "assert": "gridflow.runners.assert_:AssertRunner",
    "wait": "gridflow.runners.wait:WaitRunner",
    "apt": "gridflow.runners.node_actions:AptRunner",
    "systemd": "gridflow.runners.node_actions:SystemdRunner",
    "rke2": "gridflow.runners.node_actions:Rke2Runner",
    "ping": "gridflow.runners.node_actions:PingRunner",
    "test": "gridflow.runners.node_actions:TestRunner",
    "s3": "gridflow.runners.s3:S3Runner",
}

_BUILTIN_RESOURCES: dict[str, str] = {
    "http_client": "gridflow.runners.http_client:HttpClientResource",
}


def _load(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@functools.cache
def _third_party() -> tuple[dict[str, Any], dict[str, Any]]:
    builtin = {**_BUILTIN_RUNNERS, **_BUILTIN_RESOURCES}
    found: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for group, into in zip((ENTRY_POINT_GROUP, RESOURCE_ENTRY_POINT_GROUP), found, strict=True):
        for ep in entry_points(group=group):
            if ep.name in builtin:
                log.warning(
                    "ignoring entry point %r (group %s): a built-in runner or resource has "
                    "that name",
                    ep.name,
                    group,
                )
                continue
            into[ep.name] = ep
    return found


def runner_names() -> list[str]:
    """Every runner name usable in a grid or job, sorted."""
    return sorted({*_BUILTIN_RUNNERS, *_third_party()[0]})


def resource_names() -> list[str]:
    """Every resource type usable in a ``resource`` block, sorted."""
    return sorted({*_BUILTIN_RESOURCES, *_third_party()[1]})


@functools.cache
def get_runner(name: str) -> type[Runner[Any, Any]] | None:
    """The runner class for ``name``, or None when there is none."""
    if name in _BUILTIN_RUNNERS:
        cls = _load(_BUILTIN_RUNNERS[name])
    elif name in _third_party()[0]:
        cls = _third_party()[0][name].load()
    else:
        return None
    if isinstance(cls, type) and issubclass(cls, Resource):
        return None
    if not (isinstance(cls, type) and issubclass(cls, Runner)):
        raise TypeError(f"entry point {name!r} is not a gridflow Runner subclass: {cls!r}")
    return cls


@functools.cache
def get_resource(name: str) -> type[Resource[Any]] | None:
    """The resource class for ``name``, or None when there is none."""
    if name in _BUILTIN_RESOURCES:
        cls = _load(_BUILTIN_RESOURCES[name])
    elif name in _third_party()[1]:
        cls = _third_party()[1][name].load()
    else:
        return None
    if not (isinstance(cls, type) and issubclass(cls, Resource)):
        raise TypeError(f"entry point {name!r} is not a gridflow Resource subclass: {cls!r}")
    return cls
