#!/usr/bin/env bash
# Stage only finished run directories (those with summary.json) of a preset, never a run still in progress.
#   tools/stage_finished_runs.sh cpu
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:?usage: tools/stage_finished_runs.sh PRESET}"
find "runs/$preset" -name summary.json -printf '%h\n' | sort | xargs -r git add --
# unstage any tracked directory that is not finished (e.g. a run restarted since the last commit)
git ls-files "runs/$preset" | xargs -r -n1 dirname | sort -u | while read -r d; do
  [ -f "$d/summary.json" ] || git rm -r -q --cached "$d"
done
