"""``python -m harness.images build [--arch x86_64|aarch64|all] [--cache DIR]``: build (or
find) the emulated images.

Progress lines go to stdout as the build runs, then the image paths and key; errors are
one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError
from harness.images.arm64 import ensure_arm64_images
from harness.images.cache import default_cache_dir
from harness.images.x86 import ensure_x86_images

ARCHES = ("x86_64", "aarch64")


def build(arch: str, cache: Path | None, progress: Callable[[str], None]) -> list[str]:
    """Build (or find) the images of ``arch`` (or ``all``); lines describing them."""
    lines: list[str] = []
    if arch in ("x86_64", "all"):
        x86 = ensure_x86_images(cache, progress)
        lines.append("x86_64 images:")
        lines += _paths(
            [
                ("dir", x86.dir),
                ("kernel", x86.kernel),
                ("initrd", x86.initrd),
                ("pxelinux", x86.pxelinux),
                ("ldlinux", x86.ldlinux),
                ("root", x86.root),
            ],
            x86.key,
        )
    if arch in ("aarch64", "all"):
        arm = ensure_arm64_images(cache, progress)
        lines.append("aarch64 images:")
        lines += _paths(
            [
                ("dir", arm.dir),
                ("kernel", arm.kernel),
                ("initrd", arm.initrd),
                ("dtbs", arm.dtbs),
                ("firmware", arm.firmware),
                ("root", arm.root),
                ("zero_root", arm.zero_root),
            ],
            arm.key,
        )
    return lines


def _paths(items: list[tuple[str, Path]], key: str) -> list[str]:
    return [f"  {label:<10}{path}" for label, path in items] + [f"  {'key':<10}{key}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.images", description="Build the emulated node images."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="build the images unless they are cached")
    cmd.add_argument(
        "--arch", choices=[*ARCHES, "all"], default="all", help="which images (default: all)"
    )
    cmd.add_argument(
        "--cache",
        type=Path,
        default=None,
        help=f"cache directory (default: $NBH_CACHE or {default_cache_dir()})",
    )
    args = parser.parse_args(argv)

    t0 = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", flush=True)

    try:
        lines = build(args.arch, args.cache, progress)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"images ready in {time.monotonic() - t0:.2f} s")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
