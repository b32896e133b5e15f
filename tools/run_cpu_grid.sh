#!/usr/bin/env bash
# Generate the committed cpu study in the background, resumably, most-needed experiments first:
#   nohup tools/run_cpu_grid.sh > logs/cpu_grid.log 2>&1 &
# Re-running it skips every finished run. Progress: tail -f logs/cpu_grid.log; python -m atlas grid status --preset cpu
# Commit finished runs as they land: tools/stage_finished_runs.sh cpu && git commit -m "runs: ..."
set -euo pipefail
cd "$(dirname "$0")/.."
for exp in "${@:-monolingual capacity bilingual unimax finetune}"; do
  for e in $exp; do
    echo "=== $(date -u +%FT%TZ) experiment $e"
    .venv/bin/python -m atlas grid run --preset cpu --experiment "$e" --no-progress
  done
done
echo "=== $(date -u +%FT%TZ) all experiments done"
.venv/bin/python -m atlas grid status --preset cpu --experiment all
