"""The "Grid source" / "Job source" extra links: a task's line in the user's code browser.

Airflow shows an operator's extra links as buttons on a task instance. The
URL comes from one setting, ``[gridflow] source_url_template`` (env
``AIRFLOW__GRIDFLOW__SOURCE_URL_TEMPLATE``), for example
``https://github.com/acme/grids/blob/main/{path}#L{line}``: ``{path}`` is
the grid or job file, ``{line}`` the line of the step or task block.

Kept free of Airflow imports so the URL rules are tested without Airflow;
:mod:`gridflow.operators.links` reads the setting and the DAG bundle's
folder on the worker and calls :func:`source_link`.

What ``{path}`` is (docs/decisions/0010-extra-links.md):

* an absolute file (grids and jobs the dags-folder loader reads): its path
  relative to the DAG bundle's folder, i.e. the dags folder for Airflow's
  default bundle, the repository checkout for a Git bundle;
* a relative file (compiled DAG files, which record the paths given to
  ``gridflow compile``): as recorded, i.e. relative to where it was compiled.

A link never breaks a task: any problem (an unknown placeholder, a file
outside the bundle) gives no link and a warning for the task log. Only a
path and a line number ever enter the URL, so nothing secret can leak
through it; a template carrying credentials itself is refused, because the
link is shown to everyone who can see the task.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from pathlib import PurePath
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from gridflow.plan.models import Location

__all__ = [
    "CONFIG_OPTION",
    "CONFIG_SECTION",
    "PLACEHOLDERS",
    "SourceLink",
    "link_path",
    "render",
    "source_link",
    "template_problem",
]

CONFIG_SECTION = "gridflow"
CONFIG_OPTION = "source_url_template"
PLACEHOLDERS = ("path", "line")
_SCHEMES = ("http", "https")


class SourceLink(NamedTuple):
    """The link ("" for none) and, when it could not be made, why (for the task log)."""

    url: str
    warning: str | None = None


def source_link(template: str, where: Location | None, roots: Sequence[str]) -> SourceLink:
    """The URL for the block at ``where``, given the configured ``template``.

    ``roots`` are the folders an absolute file's path is taken relative to,
    first match wins (the DAG bundle's folder, then the dags folder). An
    unset template or a task with no source location gives no link and no
    warning: that is the normal state, not a problem.
    """
    template = template.strip()
    if not template or where is None:
        return SourceLink("")
    problem = template_problem(template)
    if problem is not None:
        return SourceLink("", f"[{CONFIG_SECTION}] {CONFIG_OPTION} {problem}")
    path = link_path(where.file, roots)
    if path is None:
        return SourceLink("", _no_path_reason(where.file))
    return SourceLink(render(template, path, where.line))


def template_problem(template: str) -> str | None:
    """What is wrong with ``template`` (a phrase after the option's name), or None.

    Only ``{path}`` and ``{line}`` are placeholders, without format specs or
    conversions: the template is not handed to :meth:`str.format`, whose
    attribute lookups (``{path.__class__}``) would reach into Python objects.
    """
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError:
        return "has a { or } without its pair: write {{ and }} for literal braces"
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS:
            shown = "{" + name[:40] + "}" if name else "{}"
            return f"has an unknown placeholder {shown}: only {{path}} and {{line}} are replaced"
        if spec or conversion:
            return f"formats {{{name}}}: write the placeholders bare, {{path}} and {{line}}"
    parts = urlsplit(template)
    if parts.scheme.lower() not in _SCHEMES or not parts.netloc:
        return "is not an http:// or https:// URL"
    if "@" in parts.netloc:
        # Not echoed: what is before the @ may be a password.
        return (
            "carries credentials before the host (user@ or user:password@); the link is "
            "shown to everyone who can see the task, so remove them"
        )
    return None


def render(template: str, path: str, line: int) -> str:
    """``template`` with ``{path}`` (percent-encoded, ``/`` kept) and ``{line}`` filled in.

    ``template`` must have passed :func:`template_problem`.
    """
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name == "path":
            out.append(quote(path, safe="/"))
        elif name == "line":
            out.append(str(line))
    return "".join(out)


def link_path(file: str, roots: Sequence[str]) -> str | None:
    """``file`` as ``{path}``: a POSIX path inside a root, or None when it is not one.

    Absolute files are made relative to the first of ``roots`` holding them
    (symbolic links resolved if the plain paths do not match); relative ones
    are kept as recorded, normalised. A path that climbs out (``..``) and a
    pseudo-file such as ``<command line>`` give None.
    """
    if not file or file.startswith("<"):
        return None
    if os.path.isabs(file):
        for root in roots:
            if not root:
                continue
            for inner, outer in ((file, root), (os.path.realpath(file), os.path.realpath(root))):
                rel = _inside(inner, outer)
                if rel is not None:
                    return rel
        return None
    rel = os.path.normpath(file)
    if _climbs(rel):
        return None
    return PurePath(rel).as_posix()


def _inside(file: str, root: str) -> str | None:
    try:
        rel = os.path.relpath(file, root)
    except ValueError:  # another drive (Windows)
        return None
    if rel == os.curdir or _climbs(rel):
        return None
    return PurePath(rel).as_posix()


def _climbs(rel: str) -> bool:
    return rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel)


def _no_path_reason(file: str) -> str | None:
    if file.startswith("<"):
        return None  # a job given on the command line: there is no file to show
    name = PurePath(file).name
    if os.path.isabs(file):
        return (
            f"no link for {name}: the file is not inside the DAG bundle's folder (the dags "
            "folder), so it has no path there; keep grid and job files inside it"
        )
    return (
        f"no link for {name}: its recorded path {file!r} climbs out of the folder it was "
        "compiled from; run gridflow compile from the repository root"
    )
