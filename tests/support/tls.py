"""Self-signed TLS certificates for the test servers (made with ``openssl``)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path


def self_signed_context(host: str, directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server SSL context with a fresh certificate for ``host`` (an IP address),
    and the certificate's path (for clients that should trust it).

    Key and certificate are written into ``directory``, which the caller owns.
    """
    cert = directory / "cert.pem"
    key = directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=IP:{host}",
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx, cert
