"""Refusing secrets written in clear in a testbed file.

Testbed files are committed, copied into reports and pasted into chats; a BMC or
Homematic password in one is a leaked password.  Any key that names a secret is an
error, and its value is never quoted back.  The fix is always the same: put the secret
in an environment variable and name the variable (``password_env: NBH_BMC_PASSWORD``).
"""

from __future__ import annotations

import re
from typing import Any

from harness.testbed.problems import Loc, Problem, show

_SECRET_WORDS = frozenset({"password", "passwd", "secret", "token"})
# Keys that *name* where a secret is, rather than holding it.
_REFERENCE_SUFFIXES = ("_env", "_file")


def is_secret_key(key: object) -> bool:
    """``password``, ``bmc_password``, ``api-token``...; not ``password_env``."""
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    if lowered.endswith(_REFERENCE_SUFFIXES):
        return False
    return any(word in _SECRET_WORDS for word in re.split(r"[_\-.\s]+", lowered))


def strip_secrets(data: Any) -> tuple[Any, list[Problem]]:
    """``data`` without secret keys, and one problem per secret key removed.

    Removing them means the same key is not reported a second time as unknown.
    """
    problems: list[Problem] = []
    return _strip(data, (), problems, {}), problems


def _strip(data: Any, loc: Loc, problems: list[Problem], done: dict[int, Any]) -> Any:
    # YAML aliases share (and can nest) objects: each is stripped once, and a recursive
    # one is left for validation to refuse instead of recursing forever here.
    if id(data) in done:
        return done[id(data)]
    if isinstance(data, dict):
        done[id(data)] = data
        kept: dict[Any, Any] = {}
        for key, value in data.items():
            if is_secret_key(key):
                problems.append(_problem((*loc, key), key))
            else:
                kept[key] = _strip(value, (*loc, key), problems, done)
        done[id(data)] = kept
        return kept
    if isinstance(data, list):
        done[id(data)] = data
        items = [_strip(item, (*loc, index), problems, done) for index, item in enumerate(data)]
        done[id(data)] = items
        return items
    return data


def _problem(loc: Loc, key: str) -> Problem:
    variable = "NBH_" + re.sub(r"[^A-Za-z0-9]+", "_", key).upper()
    return Problem(
        loc,
        f"a secret ({show(key)}) is written in clear in the testbed file",
        f"delete it, put the secret in an environment variable ({variable}) and give the "
        f"variable's name instead, like password_env: {variable}",
    )
