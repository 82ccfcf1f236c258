"""The one base class of every testbed model: frozen, and strict about unknown keys.

Frozen because a testbed is read once and shared by every fixture and worker; unknown
keys are refused because a misspelt key silently ignored is a boot that fails for a
reason nobody can see.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TestbedModel(BaseModel):
    """Base of every model in :mod:`harness.testbed`."""

    __test__ = False  # not a pytest test class, despite the name

    model_config = ConfigDict(frozen=True, extra="forbid")
