"""What the ROM accepts as a DHCP answer, and its timing, on virtual time.

Each test runs the ROM's DHCP exchange against the fake server on a simulated link: no
real waits, and the times of what the ROM sent are exactly its timers'.
"""

from __future__ import annotations

import pytest

from harness.pirom.dhcp import DhcpClient, DhcpState, Lease
from harness.pirom.errors import DhcpFailed
from harness.pirom.nic import RomNic
from harness.pirom.simlink import SimulatedLink
from harness.pirom.timing import ManualClock
from harness.pirom.wire import mac_bytes, parse_udp

from .boards import board
from .fakes import PXE_RPI_BOOT, PXE_RPI_BOOT_3SP, RAW_RPI_BOOT, FakeBootServer, OfferSpec


class Run:
    """One DHCP exchange: its lease or failure, the states it went through, the link."""

    def __init__(self, clock: ManualClock, model: str, server: FakeBootServer, *,
                 followup: bool = True, **changes: object) -> None:
        self.start = clock.now()
        self.link = SimulatedLink(clock, server)
        self.server = server
        b = board(model, **changes)
        nic = RomNic(self.link, mac_bytes(b.mac), clock, ttl=b.profile.ttl)
        self.states: list[tuple[float, DhcpState]] = []
        client = DhcpClient(nic, b, xid=b.profile.xid or 0x11223344, followup=followup,
                            on_state=lambda s, _: self.states.append((clock.now(), s)))
        self.lease: Lease | None = None
        self.error: DhcpFailed | None = None
        try:
            self.lease = client.run()
        except DhcpFailed as exc:
            self.error = exc
        self.end = clock.now()

    def discover_times(self) -> list[float]:
        out = []
        for t, frame in self.link.sent:
            datagram = parse_udp(frame)
            if datagram is not None and datagram.dport == 67 and datagram.payload[242] == 1:
                out.append(round(t - self.start, 6))
        return out


def test_an_offer_without_option_43_is_ignored(clock: ManualClock) -> None:
    run = Run(clock, "pi3bplus", FakeBootServer(offers=[OfferSpec(option43=None)]))
    assert run.lease is None and run.error is not None
    assert "5 OFFERs ignored from 10.42.0.250: no option 43" in str(run.error)


def test_pi3b_ignores_option_43_without_the_three_trailing_spaces(clock: ManualClock) -> None:
    server = FakeBootServer(offers=[OfferSpec(option43=PXE_RPI_BOOT)], followup_after_offer=0.2)
    run = Run(clock, "pi3b", server)
    assert run.lease is None
    assert str(run.error) == (
        "no usable DHCP answer to 5 DISCOVERs in 25 s: 5 OFFERs ignored from 10.42.0.250: "
        "option 43 says 'Raspberry Pi Boot' but not 'Raspberry Pi Boot   ' "
        "(a pi3b needs the three trailing spaces)"
    )


@pytest.mark.parametrize("option43", [PXE_RPI_BOOT_3SP, b"Raspberry Pi Boot   "],
                         ids=["dnsmasq-pxe-suboptions", "raw-string"])
def test_pi3b_accepts_the_three_space_string_either_way(
    clock: ManualClock, option43: bytes
) -> None:
    server = FakeBootServer(offers=[OfferSpec(option43=option43)], followup_after_offer=0.2)
    run = Run(clock, "pi3b", server)
    assert run.lease is not None and run.lease.address == "10.42.0.2"


@pytest.mark.parametrize("option43", [PXE_RPI_BOOT, RAW_RPI_BOOT, PXE_RPI_BOOT_3SP],
                         ids=["dnsmasq-pxe-suboptions", "raw-string", "three-spaces"])
def test_pi3bplus_accepts_any_encoding_of_the_boot_string(
    clock: ManualClock, option43: bytes
) -> None:
    run = Run(clock, "pi3bplus", FakeBootServer(offers=[OfferSpec(option43=option43)]))
    assert run.lease == Lease("10.42.0.2", "10.42.0.250", "255.255.255.0", "10.42.0.250", 1)
    assert [s for _, s in run.states] == [DhcpState.DISCOVERING, DhcpState.BOUND]
    assert [t for _, t in run.server.dhcp] == [1]  # no DHCPREQUEST: yiaddr is taken as is


@pytest.mark.parametrize("proxy_first", [False, True])
def test_address_and_boot_information_from_a_proxy_dhcp_server(
    clock: ManualClock, proxy_first: bool
) -> None:
    router = OfferSpec(option43=None, server_ip="10.42.0.1", server_mac="02:00:00:00:00:01")
    proxy = OfferSpec(address="0.0.0.0", option43=PXE_RPI_BOOT, netmask=None, delay=0.002)
    offers = [proxy, router] if proxy_first else [router, proxy]
    run = Run(clock, "pi3bplus", FakeBootServer(offers=offers))
    assert run.lease is not None
    assert (run.lease.address, run.lease.server, run.lease.dhcp_server) == (
        "10.42.0.2", "10.42.0.250", "10.42.0.1")


def test_option_66_names_the_tftp_server_only_as_a_dotted_quad(clock: ManualClock) -> None:
    dotted = OfferSpec(option43=RAW_RPI_BOOT, tftp_server=b"10.42.0.251")
    assert Run(clock, "pi3bplus", FakeBootServer(offers=[dotted])).lease == Lease(
        "10.42.0.2", "10.42.0.251", "255.255.255.0", "10.42.0.250", 1)
    named = OfferSpec(option43=RAW_RPI_BOOT, tftp_server=b"boot.cluster")
    lease = Run(clock, "pi3bplus", FakeBootServer(offers=[named])).lease
    assert lease is not None and lease.server == "10.42.0.250"  # no DNS in the ROM


def test_replies_for_another_xid_are_not_ours(clock: ManualClock) -> None:
    run = Run(clock, "pi3bplus", FakeBootServer(offers=[OfferSpec(xid=0x1234)]))
    assert run.error is not None and "no OFFER at all" in str(run.error)


# --- #764 and the retry timing --------------------------------------------------------


def test_five_discovers_five_seconds_apart_then_it_gives_up(clock: ManualClock) -> None:
    run = Run(clock, "pi3bplus", FakeBootServer(offers=[]))
    assert run.discover_times() == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert run.end - run.start == pytest.approx(25.0)
    assert str(run.error) == ("no usable DHCP answer to 5 DISCOVERs in 25 s: no OFFER at all "
                              "(is a DHCP server on this network and port?)")


def test_764_an_offer_alone_is_never_acted_on(clock: ManualClock) -> None:
    run = Run(clock, "pi3b", FakeBootServer())
    assert run.lease is None
    assert run.discover_times() == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert run.end - run.start == pytest.approx(25.0)
    assert "5 OFFERs lost: no other frame followed within 1 s (firmware #764" in str(run.error)
    offered = [t - run.start for t, s in run.states if s is DhcpState.OFFERED]
    assert offered == pytest.approx([0.001, 5.001, 10.001, 15.001, 20.001])


def test_764_an_offer_followed_by_another_frame_is_acted_on(clock: ManualClock) -> None:
    run = Run(clock, "pi3b", FakeBootServer(followup_after_offer=0.6))
    assert run.lease is not None and run.lease.discovers == 1
    assert [s for _, s in run.states] == [DhcpState.DISCOVERING, DhcpState.OFFERED,
                                          DhcpState.BOUND]
    assert run.end - run.start == pytest.approx(0.601)  # bound when the other frame came


def test_764_a_frame_after_the_budget_is_too_late(clock: ManualClock) -> None:
    run = Run(clock, "pi3b", FakeBootServer(followup_after_offer=1.2))
    assert run.lease is None and "5 OFFERs lost" in str(run.error)


def test_764_a_shorter_retry_profile_keeps_tests_fast(clock: ManualClock) -> None:
    run = Run(clock, "pi3b", FakeBootServer(), discover_tries=2, discover_interval_s=2.0)
    assert run.discover_times() == [0.0, 2.0]
    assert run.end - run.start == pytest.approx(4.0)


def test_764_is_the_rom_only_bootcode_dhcp_acts_at_once(clock: ManualClock) -> None:
    run = Run(clock, "pi3b", FakeBootServer(), followup=False)
    assert run.lease is not None and run.end - run.start == pytest.approx(0.001)


def test_764_switched_off_on_the_3b(clock: ManualClock) -> None:
    run = Run(clock, "pi3b", FakeBootServer(), offer_needs_followup=False)
    assert run.lease is not None


# --- other 3B checks --------------------------------------------------------------------


def test_pi3b_drops_relayed_replies_the_3bplus_takes_them(clock: ManualClock) -> None:
    relayed = OfferSpec(hops=1)
    run = Run(clock, "pi3b", FakeBootServer(offers=[relayed], followup_after_offer=0.1))
    assert run.error is not None and "relayed (hops=1)" in str(run.error)
    assert Run(clock, "pi3bplus", FakeBootServer(offers=[relayed])).lease is not None


def test_pi3b_wants_the_tftp_server_on_its_subnet(clock: ManualClock) -> None:
    far = OfferSpec(tftp_server=b"10.43.0.1")
    run = Run(clock, "pi3b", FakeBootServer(offers=[far], followup_after_offer=0.1))
    assert run.error is not None
    assert "TFTP server 10.43.0.1 is not on the subnet of 10.42.0.2" in str(run.error)
    lease = Run(clock, "pi3bplus", FakeBootServer(offers=[far])).lease
    assert lease is not None and lease.server == "10.43.0.1"


# --- Pi 4: the full exchange ------------------------------------------------------------


def test_pi4_requests_and_binds_on_the_ack(clock: ManualClock) -> None:
    run = Run(clock, "pi4", FakeBootServer(offers=[OfferSpec(option43=PXE_RPI_BOOT)]))
    assert run.lease is not None and run.lease.address == "10.42.0.2"
    assert [t for _, t in run.server.dhcp] == [1, 3]
    assert [s for _, s in run.states] == [DhcpState.DISCOVERING, DhcpState.REQUESTING,
                                          DhcpState.BOUND]


@pytest.mark.parametrize("answer", ["nak", "none"])
def test_pi4_starts_over_after_a_nak_or_silence(clock: ManualClock, answer: str) -> None:
    server = FakeBootServer(offers=[OfferSpec(option43=PXE_RPI_BOOT)], request_answer=answer)
    run = Run(clock, "pi4", server, discover_tries=3)
    assert [t for _, t in server.dhcp] == [1, 3, 1, 3, 1, 3]
    assert run.error is not None
    expected = "3 DHCPNAKs from 10.42.0.250" if answer == "nak" else (
        "3 DHCPREQUESTs unanswered")
    assert expected in str(run.error)


def test_pi4_option_43_string_is_a_setting(clock: ManualClock) -> None:
    offer = OfferSpec(option43=b"My Boot")
    assert Run(clock, "pi4", FakeBootServer(offers=[offer])).lease is None
    assert Run(clock, "pi4", FakeBootServer(offers=[offer]), option43_match=b"My Boot").lease
