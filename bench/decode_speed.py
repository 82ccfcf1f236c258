#!/usr/bin/env python3
"""How fast the capture path decodes a kernel download: packets per second.

Builds a synthetic 30 000-packet TFTP read (RRQ, OACK, 14 998 DATA/ACK pairs of 1468-byte
blocks, as iPXE/Pi 4 ask for) with ``tests/observe/data/make_pcaps.py``, writes it as a
pcap, and times (1) ``PacketDecoder.feed`` alone on frames in memory and (2) the whole
reader path a live capture uses: ``PcapStream`` over the file, with the tee copy, plus
``feed``.  Best of ``--repeat`` runs.

    .venv/bin/python bench/decode_speed.py [--packets 30000] [--blksize 1468]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from harness.observe.events import TftpTransfer
from harness.observe.packets import PacketDecoder
from harness.observe.pcapstream import PcapStream

ROOT = Path(__file__).resolve().parent.parent


def _make_pcaps() -> ModuleType:
    path = ROOT / "tests" / "observe" / "data" / "make_pcaps.py"
    spec = importlib.util.spec_from_file_location("make_pcaps", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=30_000)
    parser.add_argument("--blksize", type=int, default=1468)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    make = _make_pcaps()
    blocks = (args.packets - 3) // 2  # RRQ, OACK, ACK 0, then DATA/ACK pairs
    frames = make.tftp_read_frames(blocks, args.blksize)
    count = len(frames)

    best_feed = float("inf")
    for _ in range(args.repeat):
        decoder = PacketDecoder()
        start = time.perf_counter()
        events = [e for t, frame in frames for e in decoder.feed(t, frame)]
        best_feed = min(best_feed, time.perf_counter() - start)
    done = [e for e in events if isinstance(e, TftpTransfer)]
    assert len(done) == 1 and done[0].complete and done[0].blocks == blocks, events

    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "tftp.pcap"
        make.write_raw(pcap, frames)
        size = pcap.stat().st_size
        best_stream = float("inf")
        for _ in range(args.repeat):
            decoder = PacketDecoder()
            with open(pcap, "rb") as source, open(Path(tmp) / "tee.pcap", "wb", 0) as tee:
                start = time.perf_counter()
                n = 0
                for t, frame in PcapStream(source, tee):
                    decoder.feed(t, frame)
                    n += 1
                best_stream = min(best_stream, time.perf_counter() - start)
            assert n == count

    print(f"{count} packets ({blocks} blocks of {args.blksize} bytes, pcap {size / 1e6:.1f} MB)")
    print(
        f"decoder only:            {count / best_feed:>10,.0f} packets/s "
        f"({best_feed * 1e6 / count:.2f} µs/packet)"
    )
    print(
        f"pcap stream + tee + decoder: {count / best_stream:>6,.0f} packets/s "
        f"({best_stream * 1e6 / count:.2f} µs/packet)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
