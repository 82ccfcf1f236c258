"""What can go wrong while provisioning a boot server, in words for the lab engineer.

Each error is one line: the host or file, what happened, and what to do next.  The
transport errors say nothing about credentials - not the password, not the passphrase,
only the name of the environment variable that should hold them.
"""

from __future__ import annotations

from harness.errors import HarnessError


class ProvisionError(HarnessError):
    """Provisioning cannot go on: bad input, a conflict on the server, a broken journal."""


class TransportError(ProvisionError):
    """An operation on the server failed (a file could not be read or written...)."""


class ConnectError(TransportError):
    """The server could not be reached, or refused the login."""


class ConnectionLost(TransportError):
    """The SSH connection died or stopped answering in the middle of an operation."""


class CommandTimeout(TransportError):
    """A command on the server did not finish within its timeout."""


class JournalError(ProvisionError):
    """The provisioning journal on the server is missing a record or cannot be read."""


class PlanStale(ProvisionError):
    """The server changed between the plan the user saw and the apply."""


class Interrupted(ProvisionError):
    """An apply or rollback stopped part way; every file is old or new, a rerun completes it."""


class RollbackConflict(ProvisionError):
    """A file changed after the apply that is being rolled back."""


class ReloadFailed(ProvisionError):
    """A reload action (``systemctl restart dnsmasq``...) failed after the files were written."""


class Locked(ProvisionError):
    """Another apply or rollback holds the server's provisioning lock."""
