"""Instance records as they are kept in XCom: secrets sealed, the rest readable.

Airflow shows XCom values in its UI and REST API without redaction, yet a
downstream task needs a sensitive step's real output to evaluate its own
arguments. So a record that holds a secret (a sensitive step's output, or any
value the run's :class:`Masker` knows to be secret) is kept in two parts:
the readable record with every secret replaced by ``***``, and under
``"sealed"`` the whole record encrypted with Airflow's Fernet key
(``[core] fernet_key``), which only tasks can open again.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from gridflow.errors import UsageError
from gridflow.runtime.masking import Masker

SEALED = "sealed"
# XCom key of an error that belongs to no instance (a fan-out that failed).
ERROR_XCOM_KEY = "gridflow_error"


class Cipher(Protocol):
    """What gridflow needs of Airflow's Fernet object."""

    is_encrypted: bool

    def encrypt(self, msg: bytes) -> bytes: ...

    def decrypt(self, msg: bytes, ttl: int | None = None) -> bytes: ...


class NoKeyError(UsageError):
    """A record must be sealed but Airflow has no Fernet key."""


def seal(record: dict[str, Any], masker: Masker, cipher: Cipher | None) -> dict[str, Any]:
    """``record`` as it may be shown in Airflow's UI."""
    shown: dict[str, Any] = masker.redact(record)
    if shown == record:
        return record
    if cipher is None or not getattr(cipher, "is_encrypted", False):
        raise NoKeyError(
            "this step's record holds a secret, and Airflow has no Fernet key to keep it "
            "encrypted in XCom: set [core] fernet_key (AIRFLOW__CORE__FERNET_KEY) on every "
            "Airflow component"
        )
    # The secrets travel with the record, so the tasks that read it mask them
    # too (in their logs and in the records they push in turn).
    payload = {"record": record, "secrets": masker.secrets_in(record)}
    text = json.dumps(payload, separators=(",", ":"))
    shown[SEALED] = cipher.encrypt(text.encode()).decode()
    return shown


def unseal(record: dict[str, Any], cipher: Cipher | None, masker: Masker) -> dict[str, Any]:
    """The full record back from what :func:`seal` stored; its secrets join ``masker``."""
    sealed = record.get(SEALED)
    if sealed is None:
        return record
    if cipher is None:
        raise NoKeyError("a sealed XCom record cannot be opened without Airflow's Fernet key")
    payload = json.loads(cipher.decrypt(str(sealed).encode()))
    masker.add_all(payload["secrets"])
    opened: dict[str, Any] = payload["record"]
    return opened
