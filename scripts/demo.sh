#!/usr/bin/env bash
# The main job: set up, generate a demo competition, run all four stages on it, and score the
# submission against the demo's answer key with the competition's metric.
# Usage: bash scripts/demo.sh [PRESET] [TASK]
#   PRESET: cpu (default), smoke, default
#   TASK:   birdclef-2026 (default) or messy-mashup (the same four notebooks, other competition)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
preset="${1:-cpu}"
task="${2:-birdclef-2026}"
size=demo
[ "$preset" = smoke ] && size=tiny
case "$task" in
  birdclef-2026) generator=common.synthetic; data="demo/birdclef-$size" ;;
  messy-mashup) generator=common.synthetic_mashup; data="demo/mashup-$size" ;;
  *) echo "unknown task '$task': use birdclef-2026 or messy-mashup (a synthetic demo exists for" \
       "these two)" >&2; exit 2 ;;
esac
# Generation is deterministic: an existing demo competition is reused while the generator still
# makes the same one (else it is generated again). A stopped run resumes where it was (every
# stage resumes); delete demo/ to start from scratch.
if ! .venv/bin/python -m devtools.synthetic.current "$task" "$data" "$size"; then
  rm -rf "$data"
  .venv/bin/python -m "$generator" --out "$data" --size "$size" --seed 0
fi
run="demo/run-$task-$preset"
exec .venv/bin/python -m common.pipeline \
  --task "$task" \
  --competition-dir "$data/$task" \
  --work-dir "$run" \
  --preset "$preset" \
  --answer-key "$data/answer_key/solution.csv"
