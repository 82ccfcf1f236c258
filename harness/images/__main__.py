"""``python -m harness.images build [--cache DIR]``: build (or find) the emulated images.

Progress lines go to stdout as the build runs, then the image paths and key; errors are
one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.errors import HarnessError
from harness.images.cache import default_cache_dir
from harness.images.x86 import ensure_x86_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.images",
                                     description="Build the emulated node images.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the x86_64 images unless they are cached")
    build.add_argument("--cache", type=Path, default=None,
                       help=f"cache directory (default: $NBH_CACHE or {default_cache_dir()})")
    args = parser.parse_args(argv)

    t0 = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", flush=True)

    try:
        images = ensure_x86_images(args.cache, progress)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"x86_64 images ready in {time.monotonic() - t0:.2f} s")
    for label, path in (("dir", images.dir), ("kernel", images.kernel),
                        ("initrd", images.initrd), ("pxelinux", images.pxelinux),
                        ("ldlinux", images.ldlinux), ("root", images.root)):
        print(f"  {label:<9}{path}")
    print(f"  {'key':<9}{images.key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
