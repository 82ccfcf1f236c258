#!/usr/bin/env python3
"""Cut the small lab-recorded captures used by tests/observe/test_lab_pcaps.py out of the
pcap of a real emulated-lab boot (reports/<run>/<test>/capture.pcap).

    slice.py good  <capture.pcap of a passing boot>
    slice.py nokernel <capture.pcap of a boot whose kernel was removed>

Writes pxe_firmware.pcap (DHCP through the pxelinux config, stopping before the kernel),
nfs_mount.pcap (the node's first NFS packets) or tftp_kernel_missing.pcap.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def frames(path: Path) -> tuple[bytes, list[bytes]]:
    data = path.read_bytes()
    header, pos, out = data[:24], 24, []
    while pos + 16 <= len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        out.append(data[pos : pos + 16 + incl])
        pos += 16 + incl
    return header, out


def payload(record: bytes) -> bytes:
    return record[16:]


def is_rrq_for(record: bytes, name: bytes) -> bool:
    frame = payload(record)
    return (
        len(frame) > 44 and frame[23] == 17 and frame[36:38] == b"\x00\x45" and name in frame[44:]
    )


def is_nfs(record: bytes) -> bool:
    frame = payload(record)
    if len(frame) < 38 or frame[23] != 6:
        return False
    ihl = (frame[14] & 0x0F) * 4
    sport, dport = struct.unpack_from("!HH", frame, 14 + ihl)
    return 2049 in (sport, dport)


def write(name: str, header: bytes, records: list[bytes]) -> None:
    (HERE / name).write_bytes(header + b"".join(records))
    print(f"{name}: {len(records)} packets")


def main() -> None:
    kind, source = sys.argv[1], Path(sys.argv[2])
    header, records = frames(source)
    if kind == "good":
        cut = next(i for i, r in enumerate(records) if is_rrq_for(r, b"vmlinuz"))
        write("pxe_firmware.pcap", header, records[:cut])
        write("nfs_mount.pcap", header, [r for r in records if is_nfs(r)][:40])
    elif kind == "nokernel":
        start = next(i for i, r in enumerate(records) if is_rrq_for(r, b"pxelinux.cfg"))
        write("tftp_kernel_missing.pcap", header, records[start:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
