"""``node_table:``: many nodes from a mac_nodes file and a few templates.

A 60-node cluster differs from node to node only in position and MAC; name, host name
and address follow from the position (``node{position:02d}``, ``10.42.0.{position}``).
This module holds the ``node_table:`` section's model and turns it plus the file's
entries into ordinary node entries, which are then checked like nodes written by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from harness.testbed.base import TestbedModel
from harness.testbed.console import ConsoleSpec, NoConsole
from harness.testbed.mactable import TableEntry
from harness.testbed.power import PowerSpec
from harness.testbed.problems import invalid, show
from harness.testbed.values import ProfileName

#: Fields every node of the table takes as they are; an error in one of them is an
#: error in the ``node_table:`` section, not in a line of the file.
SHARED_FIELDS = ("profile", "network", "power", "console")

#: Fields made per node from a template over {position} and {mac}.
TEMPLATE_FIELDS = ("name", "hostname", "ip")

_SAMPLE = {"position": 1, "mac": "52:54:00:42:00:01"}


def fill(template: str, entry: TableEntry) -> str:
    return template.format(position=entry.position, mac=entry.mac)


def _template(value: str) -> str:
    try:
        value.format(**_SAMPLE)
    except KeyError as error:
        raise invalid(
            f"unknown placeholder {{{error.args[0]}}} in {show(value)}",
            "use only {position} and {mac}, like node{position:02d}",
        ) from None
    except (ValueError, IndexError, AttributeError, TypeError):
        raise invalid(
            f"{show(value)} is not a valid template",
            "write placeholders as {position} or {position:02d} (and {mac}); "
            "write a literal brace twice, {{ or }}",
        ) from None
    return value


Template = Annotated[str, AfterValidator(_template)]


class NodeTable(TestbedModel):
    """The ``node_table:`` section of a testbed file."""

    file: Path = Field(description="the mac_nodes file, relative to the testbed file")
    network: str | None = Field(None, description="the network of every node of the table")
    name: Template = Field("node{position:02d}", description="template of each node's name")
    hostname: Template = Field(
        "node{position:02d}", description="template of each node's host name"
    )
    ip: Template = Field("10.42.0.{position}", description="template of each node's address")
    profile: ProfileName = Field(description="boot profile of every node")
    power: PowerSpec = Field(description="power of every node (powerall: by its position)")
    console: ConsoleSpec = Field(NoConsole(), description="console of every node")

    def node_entries(self, entries: list[TableEntry]) -> list[dict[str, Any]]:
        """One node entry per table line, as if written under ``nodes:``."""
        shared: dict[str, Any] = {
            "profile": self.profile,
            "power": self.power,
            "console": self.console,
        }
        if self.network is not None:
            shared["network"] = self.network
        return [
            {
                "name": fill(self.name, entry),
                "hostname": fill(self.hostname, entry),
                "ip": fill(self.ip, entry),
                "mac": entry.mac,
                "position": entry.position,
                **shared,
            }
            for entry in entries
        ]
