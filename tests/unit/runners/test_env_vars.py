"""env_vars: selection, defaults, required names, secret detection, masking."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from gridflow.errors import ExpectedError
from gridflow.runners.base import RunContext
from gridflow.runners.env_vars import EnvVarsInputs, EnvVarsRunner, read_env
from gridflow.runtime.masking import Masker

ENV = {
    "APP_HOST": "db.local",
    "APP_PORT": "5432",
    "APP_DB_PASSWORD": "hunter22",
    "APP_API_TOKEN": "tok-123456",
    "HOME": "/home/me",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "ssh_key_path": "/k",
}


@pytest.mark.parametrize(
    ("args", "expected_vars", "expected_secret"),
    [
        ({}, ENV, ["APP_API_TOKEN", "APP_DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "ssh_key_path"]),
        ({"include": ["HOME", "APP_PORT", "NOPE"]}, {"HOME": "/home/me", "APP_PORT": "5432"}, []),
        (
            {"prefix": "APP_"},
            {k: v for k, v in ENV.items() if k.startswith("APP_")},
            ["APP_API_TOKEN", "APP_DB_PASSWORD"],
        ),
        (
            {"prefix": "APP_", "strip_prefix": True},
            {
                "HOST": "db.local",
                "PORT": "5432",
                "DB_PASSWORD": "hunter22",
                "API_TOKEN": "tok-123456",
            },
            ["API_TOKEN", "DB_PASSWORD"],
        ),
        (
            {"include": ["HOME", "LANG_X"], "defaults": {"LANG_X": "C", "HOME": "ignored"}},
            {"HOME": "/home/me", "LANG_X": "C"},
            [],
        ),
        (
            {"defaults": {"EXTRA": "1"}, "prefix": "EX"},
            {"EXTRA": "1"},
            [],
        ),
        (
            {"include": ["HOME"], "required": ["APP_PORT"]},
            {"HOME": "/home/me", "APP_PORT": "5432"},
            [],
        ),
        (
            {"include": ["HOME", "APP_PORT"], "sensitive": True},
            {"HOME": "/home/me", "APP_PORT": "5432"},
            ["APP_PORT", "HOME"],
        ),
        (
            {"prefix": "MY_SECRET_", "strip_prefix": True, "defaults": {"MY_SECRET_HOST": "h"}},
            {"HOST": "h"},
            ["HOST"],
        ),
    ],
    ids=[
        "all",
        "include",
        "prefix",
        "strip-prefix",
        "defaults-fill-only-missing",
        "defaults-without-include",
        "required-is-included",
        "sensitive-masks-all",
        "secret-verdict-from-full-name",
    ],
)
def test_selection(
    args: dict[str, Any], expected_vars: dict[str, str], expected_secret: list[str]
) -> None:
    out = read_env(EnvVarsInputs.model_validate(args), ENV)
    assert out.vars == expected_vars
    assert out.secret_names == expected_secret
    assert list(out.vars) == sorted(out.vars)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"required": ["APP_HOST", "MISSING_ONE"]},
            "required environment variable not set: MISSING_ONE "
            "(export it on the worker, or give a value in defaults)",
        ),
        (
            {"required": ["ZZ", "AA", "APP_HOST"]},
            "required environment variables not set: AA, ZZ "
            "(export them on the worker, or give a value in defaults)",
        ),
    ],
    ids=["one-missing", "two-missing-sorted"],
)
def test_required_missing(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ExpectedError) as info:
        read_env(EnvVarsInputs.model_validate(args), ENV)
    assert info.value.message == message
    assert info.value.details["missing"] == sorted(set(args["required"]) - set(ENV))


def test_required_satisfied_by_default() -> None:
    out = read_env(EnvVarsInputs(required=["X"], defaults={"X": "1"}), ENV)
    assert out.vars["X"] == "1"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"prefix": "APP_", "include": ["HOST"]}, 'include names the variable "HOST"'),
        ({"prefix": "APP_", "required": ["PORT"]}, 'e.g. "APP_PORT"'),
        ({"prefix": "APP_", "defaults": {"X": "1"}}, 'does not start with prefix "APP_"'),
        ({"includes": ["HOME"]}, "Extra inputs are not permitted"),
        ({"include": "HOME"}, "Input should be a valid list"),
    ],
    ids=["include-without-prefix", "required-without-prefix", "defaults-without-prefix",
         "unknown-argument", "include-not-a-list"],
)  # fmt: skip
def test_bad_arguments(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        EnvVarsInputs.model_validate(args)
    assert fragment in str(info.value)


def test_runs_against_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDFLOW_T_SERVICE_TOKEN", "abcd-efgh")
    monkeypatch.setenv("GRIDFLOW_T_NAME", "svc")
    runner = EnvVarsRunner()
    out = asyncio.run(
        runner.run(
            EnvVarsInputs(prefix="GRIDFLOW_T_", strip_prefix=True), RunContext(step_id="env_vars.x")
        )
    )
    dumped = out.model_dump(mode="json")
    assert dumped == {
        "vars": {"NAME": "svc", "SERVICE_TOKEN": "abcd-efgh"},
        "secret_names": ["SERVICE_TOKEN"],
    }
    assert EnvVarsRunner.secret_values(dumped) == ["abcd-efgh"]
    masker = Masker()
    masker.add(EnvVarsRunner.secret_values(dumped))
    assert masker.redact(dumped)["vars"] == {"NAME": "svc", "SERVICE_TOKEN": "***"}


@pytest.mark.parametrize(
    "output",
    [
        None,
        "text",
        {"vars": "x"},
        {"vars": {"A": "1"}},
        {"vars": {"A": "1"}, "secret_names": ["B"]},
    ],
    ids=["none", "string", "vars-not-map", "no-secret-names", "unknown-name"],
)
def test_secret_values_tolerates_odd_outputs(output: Any) -> None:
    assert EnvVarsRunner.secret_values(output) == []


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("passphrase", True),
        ("GITHUB_TOKEN", True),
        ("client_secret", True),
        ("API_KEY", True),
        ("KEYRING", True),
        ("HOST", False),
        ("PATH", False),
        ("USER", False),
    ],
    ids=lambda v: str(v),
)
def test_looks_secret(name: str, secret: bool) -> None:
    from gridflow.runners._masking import looks_secret

    assert looks_secret(name) is secret
