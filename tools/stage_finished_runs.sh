#!/usr/bin/env bash
# Stage only finished run directories (those with summary.json) of a preset, never a run still in progress.
#   tools/stage_finished_runs.sh cpu
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:?usage: tools/stage_finished_runs.sh PRESET}"
# the tokenizer models the finished runs recorded (hash-checked), so a fresh clone need not retrain them
.venv/bin/python -c "import sys; from atlas import records; print(*records.commit_tokenizers(sys.argv[1]))" "$preset"
[ -d "runs/$preset/tokenizers" ] && git add -- "runs/$preset/tokenizers"
find "runs/$preset" -mindepth 3 -maxdepth 3 -name summary.json -printf '%h\n' 2>/dev/null | sort | xargs -r git add --
# unstage any tracked run directory (runs/<preset>/<experiment>/<run_id>) that is not finished, e.g. a run
# restarted since the last commit; files of the preset itself (tokenizers.json) are not run directories
git ls-files "runs/$preset/*/*/*" | cut -d/ -f1-4 | sort -u | while read -r d; do
  [ -f "$d/summary.json" ] || git rm -r -q --cached "$d"
done
