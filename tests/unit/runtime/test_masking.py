from __future__ import annotations

import logging

import pytest

from gridflow.runtime.masking import MASK, Masker, MaskingFilter


@pytest.mark.parametrize(
    ("secrets", "data", "expected"),
    [
        (["s3cret"], "token=s3cret!", "token=***!"),
        (["s3cret"], {"a": ["x s3cret y", 1]}, {"a": ["x *** y", 1]}),
        (["abc"], "abcdef", "abcdef"),  # too short to mask by substring
        (["abc"], "abc", MASK),  # ... but masked where it stands whole
        ([{"password": "hunter22"}], {"p": "hunter22"}, {"p": MASK}),
        ([12345678], {"pin": 12345678}, {"pin": MASK}),
        (["longer-secret", "longer"], "longer-secret", MASK),
        ([], "nothing", "nothing"),
    ],
    ids=[
        "substring",
        "nested",
        "short-substring",
        "short-whole",
        "from-dict",
        "number",
        "longest-first",
        "empty",
    ],
)
def test_redact(secrets: list[object], data: object, expected: object) -> None:
    masker = Masker()
    masker.add_all(secrets)
    assert masker.redact(data) == expected


def test_logging_filter_redacts_formatted_message(caplog: pytest.LogCaptureFixture) -> None:
    masker = Masker()
    masker.add("p4ssw0rd")
    logger = logging.getLogger("gridflow.test.masking")
    logger.addFilter(MaskingFilter(masker))
    with caplog.at_level(logging.INFO, logger="gridflow.test.masking"):
        logger.info("connecting with %s", "p4ssw0rd")
    assert "p4ssw0rd" not in caplog.text
    assert "connecting with ***" in caplog.text
