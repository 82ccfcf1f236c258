"""Secrets are never accepted in a testbed file."""

from __future__ import annotations

import pytest

from harness.testbed.secretkeys import is_secret_key, strip_secrets


@pytest.mark.parametrize(
    "key", ["password", "Password", "passwd", "secret", "token", "bmc_password", "api-token"]
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["password_env", "user_env", "token_env", "key_file", "password_file", "tokens", 3]
)
def test_keys_that_name_where_a_secret_is(key: object) -> None:
    assert not is_secret_key(key)


def test_secrets_are_stripped_anywhere_and_reported_without_the_value() -> None:
    data = {"a": [{"token": "abc123", "keep": 1}], "secret": "s3cr3t", "b": {"x": 2}}
    stripped, problems = strip_secrets(data)
    assert stripped == {"a": [{"keep": 1}], "b": {"x": 2}}
    assert [p.loc for p in problems] == [("a", 0, "token"), ("secret",)]
    assert not any("abc123" in p.what + p.fix or "s3cr3t" in p.what + p.fix for p in problems)
    assert data["secret"] == "s3cr3t"  # the caller's data is not changed
