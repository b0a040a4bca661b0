#!/usr/bin/env bash
# The main job: set up, generate the demo competition, run all stages on it (cpu preset),
# and score the submission against the demo's answer key.
# Usage: bash scripts/demo.sh [PRESET]   (PRESET: cpu (default), smoke, default)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
preset="${1:-cpu}"
size=demo
[ "$preset" = smoke ] && size=tiny
# Generation is deterministic: an existing demo competition is reused. A stopped run resumes
# where it was (every stage resumes); delete demo/ to start from scratch.
if [ ! -f "demo/$size/answer_key/solution.csv" ]; then
  rm -rf "demo/$size"
  .venv/bin/python -m common.synthetic --out "demo/$size" --size "$size" --seed 0
fi
.venv/bin/python -m common.pipeline \
  --competition-dir "demo/$size/birdclef-2026" \
  --work-dir "demo/run-$preset" \
  --preset "$preset" \
  --answer-key "demo/$size/answer_key/solution.csv"
