"""Errors the harness reports to people: one line, what is wrong, where, and the fix.

Everything raised to the user derives from :class:`HarnessError`; the CLI and the pytest
plugin print ``str(error)`` and never a traceback for these.
"""

from __future__ import annotations


class HarnessError(Exception):
    """An error with a message meant for the lab engineer, not a developer."""


class TestbedError(HarnessError):
    """A testbed file is invalid.  ``problems`` holds one line per finding."""

    __test__ = False  # not a pytest test class

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PowerError(HarnessError):
    """A power backend could not switch or read a node; one line naming backend and host
    (:mod:`harness.control`)."""


class LabError(HarnessError):
    """The emulated lab could not be set up, used or torn down."""


class NeedsRoot(LabError):
    """The operation needs privileges this process does not have."""


class ImageError(HarnessError):
    """An emulated image could not be built."""
