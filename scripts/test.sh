#!/usr/bin/env bash
# The tests: set up, lint, and run the whole suite. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# Optional teachers (BirdNET through ai-edge-litert; common.teachers) so that their tests run;
# the pipeline itself (scripts/demo.sh) runs without them. opensoundscape only supplies a real
# test recording: --no-deps keeps its own pins (tqdm, lightning, wandb) out of the venv.
.venv/bin/python -m pip install --quiet -r requirements-teachers.txt
.venv/bin/python -m pip install --quiet --no-deps opensoundscape==0.13.2
# Optional Weights & Biases tracking (--tracker wandb), so that its offline-run test runs.
.venv/bin/python -m pip install --quiet -r requirements-tracking.txt
# Optional inference backends (ONNX Runtime, OpenVINO; predict.backend), so their tests run.
.venv/bin/python -m pip install --quiet -r requirements-infer.txt
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
