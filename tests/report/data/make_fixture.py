"""Make a small copy of a real run directory for the report tests: every test's
``timeline.json`` (its stages, evidence and diagnosis whole; the raw event list cut to
its first lines) and ``diagnosis.txt``; no pcaps, consoles or server logs.

    python tests/report/data/make_fixture.py reports/<run-id> tests/report/data/<run-id>

The committed fixture was made from an emulated run of devices/emulated.yaml
(three Raspberry Pis: a Pi 3B, a Pi 3B+ and a Pi Zero booting from SD) with the boot,
Pi netboot and provisioning suites, two of whose tests break a boot on purpose.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

EVENTS_KEPT = 25


def main(src: Path, dst: Path) -> None:
    for timeline in sorted(src.glob("*/timeline.json")):
        out = dst / timeline.parent.name
        out.mkdir(parents=True, exist_ok=True)
        data = json.loads(timeline.read_text())
        data["events"] = data.get("events", [])[:EVENTS_KEPT]
        (out / "timeline.json").write_text(json.dumps(data, indent=1) + "\n")
        diagnosis = timeline.parent / "diagnosis.txt"
        if diagnosis.exists():
            shutil.copy(diagnosis, out / "diagnosis.txt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
