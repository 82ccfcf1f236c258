#!/usr/bin/env bash
# The nightly boot test of a hardware testbed, as the GitHub workflow
# (.github/workflows/nightly.yml) and the systemd timer (ci/systemd/) both run it:
#   1. boot every node of the testbed and judge each stage (JUnit XML into the run directory)
#   2. compare the boot times with the last runs (`harness report trend`), plot them
# Exit status: that of the boot run if it failed, else 1 when a stage got slower, else 0.
# The run directories and the history live in $NBH_REPORTS, a fixed directory that
# outlives the checkout; runs older than $NBH_KEEP_DAYS days are removed from it (the
# history keeps their timings).  See docs/nightly.md.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
TESTBED=${NBH_TESTBED:-devices/testsystem.yaml}
REPORTS=${NBH_REPORTS:-/var/lib/netboot-harness/reports}
KEEP_DAYS=${NBH_KEEP_DAYS:-30}
LAST=${NBH_TREND_LAST:-10}
MARGIN=${NBH_TREND_MARGIN:-0.2}
export NBH_RUN_ID=${NBH_RUN_ID:-nightly-$(date +%Y%m%d-%H%M%S)}
run_dir="$REPORTS/$NBH_RUN_ID"
mkdir -p "$REPORTS"

testbed_name=$(.venv/bin/harness testbed check "$TESTBED" | sed -n "s/.*testbed '\([^']*\)'.*/\1/p")

.venv/bin/pytest tests_hw -m boot --testbed "$TESTBED" --reports "$REPORTS" \
  --junitxml "$run_dir/junit.xml" "$@"
boot_status=$?

# The trend is judged even after a failed boot run: the passed stages still count.
.venv/bin/harness report trend --history "$REPORTS/history.sqlite" \
  ${testbed_name:+--testbed "$testbed_name"} --last "$LAST" --margin "$MARGIN" \
  --plot "$run_dir/trend.svg" | tee "$run_dir/trend.txt"
trend_status=${PIPESTATUS[0]}

# Old nightly run directories go (pcaps are large); their timings stay in the history.
# Only directories this script named (nightly-*) holding a run.json are touched.
find "$REPORTS" -mindepth 1 -maxdepth 1 -type d -name 'nightly-*' -mtime +"$KEEP_DAYS" \
  -exec test -f '{}/run.json' ';' -exec rm -rf '{}' +

echo "nightly: run $NBH_RUN_ID in $run_dir (boot run exit $boot_status, trend exit $trend_status)"
if [[ $boot_status -ne 0 ]]; then
  exit "$boot_status"
fi
exit "$trend_status"
