"""gridflow.connections: Airflow's URI and JSON forms, lookup order, messages, secrets."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gridflow import connections
from gridflow.connections import Connection, lookup, parse_connection, secret_values
from gridflow.errors import ExpectedError, RetryableError

# (id, text, expected fields of the parsed Connection)
PARSED: list[tuple[str, str, dict[str, Any]]] = [
    (
        "uri-aws-key-pair-encoded",
        "aws://AKID:se%2Fcr%2Bet%3D@/?region_name=eu-west-1",
        {"conn_type": "aws", "login": "AKID", "password": "se/cr+et=", "host": None,
         "extra": {"region_name": "eu-west-1"}},
    ),
    (
        "uri-plus-stays-plus-in-password",  # unquote, not unquote_plus (as Airflow)
        "aws://AKID:a+b@",
        {"password": "a+b", "extra": {}},
    ),
    (
        "uri-empty-aws",  # "use the default chain"
        "aws://",
        {"conn_type": "aws", "login": None, "password": None, "host": None, "port": None,
         "schema": None, "extra": {}},
    ),
    (
        "uri-all-parts",
        "postgres://us%40er:p%3Aw%23d@db.example.test:5433/my%2Fdb?sslmode=require&x=",
        {"conn_type": "postgres", "login": "us@er", "password": "p:w#d",
         "host": "db.example.test", "port": 5433, "schema": "my/db",
         "extra": {"sslmode": "require", "x": ""}},
    ),
    (
        "uri-type-dashes-and-postgresql",
        "postgresql://h",
        {"conn_type": "postgres", "host": "h"},
    ),
    (
        "uri-dashed-type",
        "google-cloud-platform://",
        {"conn_type": "google_cloud_platform"},
    ),
    (
        "uri-query-values-plus-is-space",  # parse_qsl, as Airflow
        "http://h?a=1+2&b=%2B",
        {"extra": {"a": "1 2", "b": "+"}},
    ),
    (
        "uri-extra-as-json",
        'aws://@/?__extra__=%7B%22region_name%22%3A%22eu-west-1%22%2C%22service_config%22%3A'
        '%7B%22s3%22%3A%7B%22endpoint_url%22%3A%22http%3A%2F%2F127.0.0.1%3A9000%22%7D%7D%7D',
        {"extra": {"region_name": "eu-west-1",
                   "service_config": {"s3": {"endpoint_url": "http://127.0.0.1:9000"}}}},
    ),
    (
        "uri-url-in-query-is-not-a-host-protocol",
        "aws://AKID:s@/?endpoint_url=http://127.0.0.1:9000",
        {"host": None, "extra": {"endpoint_url": "http://127.0.0.1:9000"}},
    ),
    (
        "uri-host-with-protocol",
        "http://https://api.example.test:8443/v1",
        {"conn_type": "http", "host": "https://api.example.test", "port": 8443, "schema": "v1"},
    ),
    (
        "uri-encoded-host-url-keeps-case",
        "http://https%3A%2F%2FApi.Example.test%2FPath",
        {"host": "https://Api.Example.test/Path", "port": None},
    ),
    (
        "uri-ipv6-host",
        "http://[::1]:8080",
        {"host": "::1", "port": 8080},
    ),
    (
        "json-full",
        '{"conn_type": "aws", "login": "AKID", "password": "s/e+c", '
        '"extra": {"region_name": "eu-west-1", "aws_session_token": "tok"}}',
        {"conn_type": "aws", "login": "AKID", "password": "s/e+c",
         "extra": {"region_name": "eu-west-1", "aws_session_token": "tok"}},
    ),
    (
        "json-extra-as-string-and-port-as-text",
        '{"conn_type": "http", "host": "h", "port": "8080", "extra": "{\\"timeout\\": 5}"}',
        {"host": "h", "port": 8080, "extra": {"timeout": 5}},
    ),
    (
        "json-no-type",
        '  {"login": "u"}',
        {"conn_type": "", "login": "u", "password": None},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [p[1:] for p in PARSED], ids=[p[0] for p in PARSED])
def test_parses_airflow_forms(text: str, expected: dict[str, Any]) -> None:
    conn = parse_connection("c1", text, source="test")
    assert conn.conn_id == "c1"
    assert conn.source == "test"
    for name, value in expected.items():
        assert getattr(conn, name) == value, name


SECRET = "Sup3r/Secret"

# (id, text, part of the message); the password must never be in the message.
BAD: list[tuple[str, str, str]] = [
    ("not-a-uri", "just-words", "not a connection URI or JSON object"),
    ("bad-port", "aws://AKID:Sup3rSecret@h:99999", "the port is not a number between 1 and 65535"),
    ("slash-in-password", f"aws://AKID:{SECRET}@", "must be URL-encoded as %2F"),
    ("three-schemes", "http://a://b://c", "more than two '://'"),
    ("protocol-with-credentials", "http://u:p@https://h", "more than two '://'"),
    ("extra-json-broken", "aws://?__extra__=%7Bnope", "extra is not valid JSON (line 1"),
    ("extra-json-not-object", "aws://?__extra__=%5B1%5D", "extra must be a JSON object, not list"),
    ("json-broken", '{"password": "' + SECRET + '",', "not valid JSON (line 1"),
    ("json-unknown-field", '{"conn_type": "aws", "passwd": "' + SECRET + '"}',
     "unknown field passwd; the fields are conn_type, description, extra, host, login"),
    ("json-port-words", '{"port": "eighty"}', "port 'eighty' is not a number"),
    ("json-port-range", '{"port": 0}', "port 0 is out of range (1-65535)"),
    ("json-login-number", '{"login": 5}', "login must be a string, not int"),
    ("json-array", "[1]", "not a connection URI or JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_text_is_an_expected_error_without_secrets(text: str, message: str) -> None:
    with pytest.raises(ExpectedError) as info:
        parse_connection("c1", text, source="env GRIDFLOW_CONN_C1")
    text_of_error = str(info.value)
    assert text_of_error.startswith("connection 'c1' in env GRIDFLOW_CONN_C1: ")
    assert message in text_of_error
    assert "Secret" not in text_of_error
    assert info.value.details["kind"] == "connection"


# --------------------------------------------------------------------------- lookup


@pytest.fixture(autouse=True)
def _no_resolver() -> Any:
    connections.set_resolver(None)
    yield
    connections.set_resolver(None)


def test_gridflow_variable_wins_over_airflow_variable() -> None:
    env = {
        "GRIDFLOW_CONN_MY_S3": '{"conn_type": "aws", "login": "from-gridflow"}',
        "AIRFLOW_CONN_MY_S3": "aws://from-airflow:x@",
    }
    conn = lookup("my_s3", env)
    assert conn.login == "from-gridflow"
    assert conn.source == "env GRIDFLOW_CONN_MY_S3"
    assert lookup("my_s3", {"AIRFLOW_CONN_MY_S3": env["AIRFLOW_CONN_MY_S3"]}).login == (
        "from-airflow"
    )


def test_id_is_upper_cased_as_airflow_does() -> None:
    assert env_names("Mixed.Case-id") == [
        "GRIDFLOW_CONN_MIXED.CASE-ID",
        "AIRFLOW_CONN_MIXED.CASE-ID",
    ]
    assert lookup("MiXed", {"AIRFLOW_CONN_MIXED": "http://h"}).host == "h"


def env_names(conn_id: str) -> list[str]:
    return connections.env_var_names(conn_id)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FROM_OS", "aws://k:s@")
    assert lookup("from_os").password == "s"


def test_resolver_first_then_environment() -> None:
    asked: list[str] = []

    def resolver(conn_id: str) -> Connection | None:
        asked.append(conn_id)
        return Connection(conn_id, "aws", login="resolved") if conn_id == "known" else None

    env = {"AIRFLOW_CONN_KNOWN": "aws://env:x@", "AIRFLOW_CONN_OTHER": "aws://env:x@"}
    with connections.use_resolver(resolver, name="Test store"):
        assert lookup("known", env).login == "resolved"
        assert lookup("other", env).login == "env"  # resolver said None: fall through
        with pytest.raises(ExpectedError) as info:
            lookup("missing", env)
    assert asked == ["known", "other", "missing"]
    assert "looked in: Test store, $GRIDFLOW_CONN_MISSING, $AIRFLOW_CONN_MISSING" in str(info.value)
    # The context manager restored "no resolver".
    assert lookup("known", env).login == "env"


def test_use_resolver_restores_the_previous_one() -> None:
    outer = Connection("x", login="outer")
    connections.set_resolver(lambda _id: outer, name="outer")
    with (
        connections.use_resolver(lambda _id: None, name="inner"),
        pytest.raises(ExpectedError, match="looked in: inner,"),
    ):
        lookup("x", {})
    assert lookup("x", {}) is outer


def test_missing_connection_message_says_how_to_define_one() -> None:
    with pytest.raises(ExpectedError) as info:
        lookup("my_s3", {})
    message = str(info.value)
    assert message.startswith(
        "connection 'my_s3' is not defined (looked in: $GRIDFLOW_CONN_MY_S3, "
        "$AIRFLOW_CONN_MY_S3); define it where the step runs, e.g. export "
        "GRIDFLOW_CONN_MY_S3='aws://ACCESS_KEY_ID:URL_ENCODED_SECRET@/?region_name=eu-west-1'"
    )
    assert "Airflow connection" in message
    assert "Prefect GridflowConnection block" in message
    assert info.value.details == {
        "conn_id": "my_s3",
        "kind": "connection",
        "looked_in": ["$GRIDFLOW_CONN_MY_S3", "$AIRFLOW_CONN_MY_S3"],
    }


def test_empty_variable_counts_as_unset() -> None:
    conn = lookup("c", {"GRIDFLOW_CONN_C": "  ", "AIRFLOW_CONN_C": "http://h"})
    assert conn.host == "h"


def test_empty_id_is_refused() -> None:
    with pytest.raises(ExpectedError, match="the connection id is empty"):
        lookup(" ", {})


def test_a_failing_resolver_is_retryable_and_named() -> None:
    def down(conn_id: str) -> Connection | None:
        raise ConnectionRefusedError("connection refused")

    with (
        connections.use_resolver(down, name="Prefect blocks"),
        pytest.raises(RetryableError) as info,
    ):
        lookup("c", {"AIRFLOW_CONN_C": "http://h"})
    assert str(info.value).startswith(
        "connection 'c': looking it up in Prefect blocks failed (ConnectionRefusedError: "
        "connection refused)"
    )
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_resolver_is_process_wide() -> None:
    """Set in one thread, used by lookups in the runner's worker threads."""
    connections.set_resolver(lambda i: Connection(i, login="everywhere"), name="t")
    seen: list[str | None] = []
    worker = threading.Thread(target=lambda: seen.append(lookup("a", {}).login))
    worker.start()
    worker.join()
    assert seen == ["everywhere"]


# -------------------------------------------------------------------------- secrets


def test_secrets_are_listed_and_kept_out_of_repr() -> None:
    conn = parse_connection(
        "c",
        '{"conn_type": "aws", "login": "AKID", "password": "pw-1234", "extra": {'
        '"region_name": "eu-west-1", "aws_session_token": "tok-5678", '
        '"service_config": {"x": {"api_key": "key-9"}}, "verify": false}}',
    )
    assert secret_values(conn) == ["pw-1234", "tok-5678", "key-9"]
    shown = repr(conn)
    assert "AKID" in shown
    for secret in secret_values(conn):
        assert secret not in shown
    assert conn.extra_dejson == conn.extra
    assert conn.extra_dejson is not conn.extra
