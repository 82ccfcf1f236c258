"""NFS/MOUNT activity from captures: one event per connection or UDP client."""

from __future__ import annotations

from collections.abc import Callable

from harness.observe.events import Event, NfsActivity
from harness.observe.packets import PacketDecoder

Decode = Callable[..., list[Event]]
ReadPcap = Callable[[str], list[tuple[float, bytes]]]
SERVER = "10.42.0.250"
PXE_MAC = "52:54:00:42:00:02"


def test_nfs_one_event_per_connection(decode: Decode) -> None:
    events = decode("nfs.pcap")
    common = {"client_ip": "10.42.0.2", "server_ip": SERVER, "client_mac": PXE_MAC}
    assert events == [
        NfsActivity(t=600.0, server_port=20048, transport="udp", **common),
        NfsActivity(t=601.0, server_port=20048, transport="tcp", **common),
        NfsActivity(t=602.0, server_port=2049, transport="tcp", **common),
        NfsActivity(t=611.0, server_port=2049, transport="tcp", **common),  # reconnect
    ]


def test_mount_port_is_configurable(read_pcap: ReadPcap) -> None:
    decoder = PacketDecoder(mount_port=635)
    events = [e for t, f in read_pcap("nfs.pcap") for e in decoder.feed(t, f)]
    assert [e.server_port for e in events if isinstance(e, NfsActivity)] == [2049, 2049]
