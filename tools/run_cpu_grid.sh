#!/usr/bin/env bash
# Generate the committed cpu study in the background, resumably, most-needed experiments first:
#   nohup tools/run_cpu_grid.sh > logs/cpu_grid.log 2>&1 &
# Re-running it skips every finished run. Progress: tail -f logs/cpu_grid.log; python -m atlas grid status --preset cpu
set -euo pipefail
cd "$(dirname "$0")/.."
for exp in finetune bilingual monolingual capacity; do
  echo "=== $(date -u +%FT%TZ) experiment $exp"
  .venv/bin/python -m atlas grid run --preset cpu --experiment "$exp" --no-progress
done
echo "=== $(date -u +%FT%TZ) all experiments done"
.venv/bin/python -m atlas grid status --preset cpu --experiment all
