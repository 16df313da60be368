"""``apt``: Debian packages with ``apt-get``, non-interactively.

Commands (SPEC §2), each with ``DEBIAN_FRONTEND=noninteractive`` so no
debconf question can stop a job: ``apt-get update`` · ``apt-get install -y P``
· ``apt-get remove -y P`` · ``apt-get upgrade -y``. The exact commands GRID
ran, with no extra dpkg options: a package whose upgrade meets a locally
changed configuration file fails instead of silently keeping or replacing
it (say which with ``cmd`` when a job needs it).

``install`` and ``remove`` first ask dpkg what is there
(``dpkg-query -W -f '${Status}\\t${Version}\\n' NAME``, read-only) and run
``apt-get`` only when it would change something, reporting ``changed``
truthfully — like Ansible's ``state: present`` / ``absent``. GRID ran
``apt-get install`` regardless; not doing so here is deliberate: on an
installed package ``apt-get install`` *upgrades* it when a newer version is
available, so "make sure nginx is there" would silently become "upgrade
nginx", and it takes the dpkg lock on every node for nothing. A pinned
``nginx=1.24.0-1`` counts as installed only at exactly that version.
``update`` and ``upgrade`` report ``changed`` as unknown.
"""

from __future__ import annotations

from collections.abc import Callable

from gridflow.backends.catalog import NoParams, PackageParams
from gridflow.backends.program import BuildContext, Builders, Decision, Probe, Program
from gridflow.nodes.base import Command, CommandResult

ENV = {"DEBIAN_FRONTEND": "noninteractive"}
#: dpkg-query expands the escapes itself: one "Status<TAB>Version" line per
#: installed architecture of the package.
STATUS_FORMAT = "${Status}\\t${Version}\\n"


def apt_get(*args: str) -> Command:
    return Command(argv=("apt-get", *args), env=ENV)


def status_query(package: str) -> Command:
    """The read-only dpkg-query for ``package`` (a version pin is dropped)."""
    return Command(argv=("dpkg-query", "-W", "-f", STATUS_FORMAT, package.partition("=")[0]))


def installed_versions(result: CommandResult) -> list[str] | None:
    """Versions dpkg reports as installed; None when the query itself failed.

    Exit 1 is dpkg-query's "no packages found matching" (never installed,
    or unknown); an installed package has a Status whose last word is
    ``installed`` (``install ok installed``, ``hold ok installed``).
    """
    return _versions(result, lambda state: state == "installed")


def present_versions(result: CommandResult) -> list[str] | None:
    """Versions with files on the node, installed or half-way (not removed,
    not only config files left); None when the query failed."""
    return _versions(result, lambda state: state not in ("not-installed", "config-files", ""))


def _versions(result: CommandResult, wanted: Callable[[str], bool]) -> list[str] | None:
    """The versions whose Status ends in a ``wanted`` state (the last word,
    "" when there is none); [] for exit 1, None for any other failure."""
    if result.exit_code == 1:
        return []
    if result.exit_code != 0:
        return None
    versions = []
    for line in result.stdout.splitlines():
        status, _, version = line.partition("\t")
        if wanted((status.split() or [""])[-1]):
            versions.append(version.strip())
    return versions


def update(params: NoParams, ctx: BuildContext) -> Program:
    return Program(commands=(apt_get("update"),))


def upgrade(params: NoParams, ctx: BuildContext) -> Program:
    return Program(commands=(apt_get("upgrade", "-y"),))


def install(params: PackageParams, ctx: BuildContext) -> Program:
    name, _, pin = params.package.partition("=")

    def decide(result: CommandResult) -> Decision:
        versions = installed_versions(result)
        if versions is None:
            return Decision(run=True, changed=None)  # could not tell: install anyway
        if versions and (not pin or pin in versions):
            shown = f"{name} {', '.join(versions)}".strip()
            return Decision(run=False, changed=False, note=f"{shown} is already installed")
        return Decision(run=True, changed=True)

    return Program(
        commands=(apt_get("install", "-y", params.package),),
        probe=Probe(
            status_query(params.package),
            decide,
            f"run apt-get only when {params.package} is not installed",
        ),
    )


def remove(params: PackageParams, ctx: BuildContext) -> Program:
    name = params.package.partition("=")[0]

    def decide(result: CommandResult) -> Decision:
        versions = present_versions(result)
        if versions is None:
            return Decision(run=True, changed=None)
        if not versions:
            return Decision(run=False, changed=False, note=f"{name} is not installed")
        return Decision(run=True, changed=True)

    return Program(
        commands=(apt_get("remove", "-y", params.package),),
        probe=Probe(
            status_query(params.package), decide, f"run apt-get only when {name} is installed"
        ),
    )


ACTIONS: Builders = {"update": update, "install": install, "remove": remove, "upgrade": upgrade}
