"""``rke2``: the RKE2 Kubernetes service of a node (unit ``rke2-server`` or
``rke2-agent``, chosen by ``mode``).

``start`` / ``stop`` run ``systemctl enable --now --no-block rke2-M`` /
``systemctl disable --now --no-block rke2-M``: an rke2 server takes minutes
to come up (its unit is ``Type=notify``), and ``--no-block`` returns once
systemd has queued the job instead of holding the task for that long; use
``status`` (or a ``checks`` entry) to wait for it. ``restart`` and
``status`` are ``systemctl restart|status rke2-M``.

``install`` downloads the official installer (``curl -sSfL
https://get.rke2.io``) to a temporary file *on the node* and runs it with
``sh FILE FLAGS...`` and ``INSTALL_RKE2_TYPE=M`` — no ``curl | sh`` pipe, so
a download cut short is an error rather than half a script run. It is one
fixed ``sh -c`` script; the flags reach it as positional arguments
(``"$@"``), never as shell text. ``-S`` makes curl say why a download failed.
"""

from __future__ import annotations

from gridflow.backends.catalog import Rke2InstallParams, Rke2ModeParams
from gridflow.backends.program import BuildContext, Builders, Program
from gridflow.backends.systemd import explain_status, systemctl
from gridflow.nodes.base import Command

INSTALLER_URL = "https://get.rke2.io"
#: $1 is the URL, the rest the installer's flags; the temp file is removed
#: whatever happens, and the installer's exit code is the script's.
INSTALL_SCRIPT = (
    'installer=$(mktemp) || exit; curl -sSfL "$1" -o "$installer" && shift && '
    'sh "$installer" "$@"; status=$?; rm -f "$installer"; exit $status'
)


def unit(mode: str) -> str:
    return f"rke2-{mode}"


def start(params: Rke2ModeParams, ctx: BuildContext) -> Program:
    return Program(commands=(systemctl("enable", "--now", "--no-block", unit(params.mode)),))


def stop(params: Rke2ModeParams, ctx: BuildContext) -> Program:
    return Program(commands=(systemctl("disable", "--now", "--no-block", unit(params.mode)),))


def restart(params: Rke2ModeParams, ctx: BuildContext) -> Program:
    return Program(commands=(systemctl("restart", unit(params.mode)),), changed=True)


def status(params: Rke2ModeParams, ctx: BuildContext) -> Program:
    return Program(
        commands=(systemctl("status", unit(params.mode)),), changed=False, explain=explain_status
    )


def install(params: Rke2InstallParams, ctx: BuildContext) -> Program:
    command = Command(
        argv=("sh", "-c", INSTALL_SCRIPT, "rke2-install", INSTALLER_URL, *params.flags),
        env={"INSTALL_RKE2_TYPE": params.mode},
    )
    return Program(commands=(command,))


ACTIONS: Builders = {
    "start": start,
    "stop": stop,
    "restart": restart,
    "status": status,
    "install": install,
}
