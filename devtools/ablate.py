"""Ablation: the recipe with each technique switched off in turn, several seeds, one leaderboard.

    python -m common.ablate --preset fast [--seeds 0,1,2] [--only recipe,loss_bce]
        [--work-dir demo/ablate] [--size demo] [--jobs 0]

A benchmark, not a test. On a synthetic demo competition (generated once under
``<work-dir>/competition``; ``--competition-dir`` and ``--answer-key`` use another), nb01 runs
once, then every variant of :data:`VARIANTS` runs for every seed: nb02 (a
:func:`devtools.sweep.run_sweep` over the seeds, the variant's changes as its fixed values),
optionally nb03 (the pseudo-label variant), then nb04 on the test soundscapes, scored against
the answer key with the competition's metric. Outputs in the work dir:

- ``ablation_runs.csv``: one row per variant and seed: CV (mean of the folds' held-out
  soundscape AUC and the out-of-fold AUC), the log-mel logistic-regression reference on the same
  folds, the test score, seconds;
- ``leaderboard.csv`` + ``leaderboard.png``: per variant the mean and spread over seeds of
  CV and test, the change from the recipe, minutes (:func:`leaderboard`).

A variant switches one technique against the preset's recipe: when the recipe already has
the variant's values (the cpu presets train with BCE and without SpecAugment), the row
becomes its opposite (``flipped``: the Kaggle recipe's values of the same
fields, e.g. ``with_specaugment``), so that every row measures something
(:func:`resolve_variants`). Trainings run ``--jobs`` at a time, one thread each (on a small
CPU two one-thread runs do more work than one two-thread run), then nb03/nb04 one at a time.

Variants train-level (a ``TrainConfig`` change), infer-level (an ``InferConfig`` change on
the recipe's own models: TTA, one fold's model instead of the fold ensemble) or the
pseudo-label round (nb03 with its gate, then nb04 with what it published). A variant that does
not help on the demo stays in the table: the point is to see it. Re-running skips finished
runs (nb02 via the sweep's leaderboard, nb04 via each run's ``test_score.json``); variants
that change no training reuse the recipe's nb02 runs (their ``seconds`` count those again).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.core.config import apply_preset, default_config, flatten, replace_dotted, stage_class
from common.data.competition import read_csv_str
from common.report.plots import save_figure
from common.tasks import get_task
from devtools.sweep import run_sweep

__all__ = ["Variant", "VARIANTS", "resolve_variants", "leaderboard", "run_ablation", "main"]

log = logging.getLogger(__name__)

TASK = "birdclef-2026"
RECIPE = "recipe"


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: what changes from the recipe, and in which stage."""

    what: str  # one line for the table
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig dotted changes
    infer: dict[str, Any] = field(default_factory=dict)  # InferConfig dotted changes
    pseudo: bool = False  # run nb03 (gated students) before nb04
    # (name, what) of the row run instead when the recipe already has ``train``'s values: the
    # same fields at the Kaggle recipe's values.
    flipped: tuple[str, str] = ()


VARIANTS: dict[str, Variant] = {
    RECIPE: Variant("the recipe as configured (nb02 + nb04, no pseudo labels)"),
    "no_background_mixing": Variant("no real soundscape background mixed into clips",
                                    train={"data.background_mixing": False}),
    "no_soundscape_simulator": Variant(
        "no in-batch soundscape simulator", train={"wave_augment.p_simulate": 0.0},
        flipped=("with_soundscape_simulator", "plus the in-batch soundscape simulator")),
    "loss_bce": Variant("BCE instead of ASL", train={"objective.loss": "bce"},
                        flipped=("loss_asl", "ASL (the Kaggle recipe's loss) instead of BCE")),
    "loss_focal": Variant("focal loss instead of the recipe's (ASL; BCE in the cpu presets)",
                          train={"objective.loss": "focal"}),
    "random_crop": Variant("random crop of focal clips instead of the energy crop",
                           train={"data.crop_mode": "random"}),
    "no_specaugment": Variant("no SpecAugment", train={"spec_augment.p": 0.0},
                              flipped=("with_specaugment", "plus SpecAugment")),
    "class_balance": Variant("class-balanced sampling (1/sqrt of class rows)",
                             train={"data.class_balance": True}),
    "no_soundscape_negatives": Variant("only the listed windows of labelled soundscapes",
                                       train={"data.soundscape_negatives": False}),
    "no_band_stats": Variant("no per-band statistics path beside the CNN (the CNN alone)",
                             train={"model.band_stats": False}),
    "no_tta": Variant("one view (no test-time augmentation)",
                      infer={"predict.tta": ("orig",), "predict.max_views": 0}),
    "one_fold_model": Variant("fold 0's model only instead of the fold ensemble (the same "
                              "when the preset trains one fold)",
                              infer={"checkpoint_glob": "*_fold0_best.pt"}),
    "pseudo_round": Variant("plus nb03's pseudo-label round (gated students in nb04)",
                            pseudo=True),
}


def resolve_variants(preset: str, names: list[str]) -> dict[str, Variant]:
    """The rows to run at ``preset``: each of ``names`` as defined, or its ``flipped`` row
    when the preset's recipe already has the variant's training values (dropped, with a log
    line, when it has no flip or the flip changes nothing either)."""
    from common.stages.train.config import TrainConfig

    cls = stage_class(TrainConfig, TASK)
    recipe = flatten(apply_preset(cls, preset, TASK))
    kaggle = flatten(default_config(cls, TASK))
    rows: dict[str, Variant] = {}
    for name in names:
        variant = VARIANTS[name]
        if not variant.train or any(recipe[k] != v for k, v in variant.train.items()):
            rows[name] = variant
            continue
        flip = {k: kaggle[k] for k in variant.train}
        if not variant.flipped or all(recipe[k] == v for k, v in flip.items()):
            log.info("%s: the %s recipe already has %s; row skipped", name, preset,
                     variant.train)
            continue
        new_name, what = variant.flipped
        rows[new_name] = replace(variant, what=what, train=flip, flipped=())
    return rows


def _spread(values: pd.Series) -> tuple[float, float]:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return (float(v.mean()) if len(v) else float("nan"),
            float(v.std(ddof=0)) if len(v) else float("nan"))


def leaderboard(runs_df: pd.DataFrame) -> pd.DataFrame:
    """Per variant: mean and spread (population std) over seeds of CV and test, the change of
    each mean from the recipe's, and the mean minutes per run.

    Args:
        runs_df: one row per run: ``variant``, ``seed``, ``cv_auc``, ``test_auc``,
            ``seconds`` (others ignored; failed runs have NaN scores).

    Returns:
        One row per variant in ``runs_df``'s first-seen order: ``variant, n_seeds, cv_mean,
        cv_std, test_mean, test_std, cv_delta, test_delta, minutes``; deltas are NaN without
        a recipe row.
    """
    rows = []
    for variant, group in runs_df.groupby("variant", sort=False):
        cv_mean, cv_std = _spread(group["cv_auc"])
        test_mean, test_std = _spread(group["test_auc"])
        rows.append({"variant": variant,
                     "n_seeds": int(pd.to_numeric(group["cv_auc"], errors="coerce").notna()
                                    .sum()),
                     "cv_mean": cv_mean, "cv_std": cv_std,
                     "test_mean": test_mean, "test_std": test_std,
                     "minutes": float(pd.to_numeric(group["seconds"]).mean()) / 60.0})
    board = pd.DataFrame(rows, columns=["variant", "n_seeds", "cv_mean", "cv_std", "test_mean",
                                        "test_std", "minutes"])
    base = board[board["variant"] == RECIPE]
    for name in ("cv", "test"):
        ref = float(base[f"{name}_mean"].iloc[0]) if len(base) else float("nan")
        board[f"{name}_delta"] = board[f"{name}_mean"] - ref
    return board[["variant", "n_seeds", "cv_mean", "cv_std", "test_mean", "test_std",
                  "cv_delta", "test_delta", "minutes"]]


def _plot(board: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(board) + 1.5))
    y = np.arange(len(board))
    ax.errorbar(board["cv_mean"], y - 0.12, xerr=board["cv_std"], fmt="o", label="CV (OOF)")
    ax.errorbar(board["test_mean"], y + 0.12, xerr=board["test_std"], fmt="s", label="test")
    ax.set_yticks(y, board["variant"])
    ax.invert_yaxis()
    ax.set_xlabel("macro ROC-AUC (mean +- std over seeds)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target.resolve(), link)


def _infer_and_score(preset: str, base_input: Path, train_dir: Path, eval_dir: Path,
                     variant: Variant, answer_key: Path, seed: int) -> tuple[float, float]:
    """nb03 (pseudo variant) and nb04 on the models of ``train_dir``, in ``eval_dir``;
    ``(test score, seconds)``."""
    done = eval_dir / "test_score.json"
    if done.is_file():
        saved = json.loads(done.read_text())
        return float(saved["test_auc"]), float(saved["seconds"])
    from common.stages.infer.config import InferConfig
    from common.stages.infer.run import run_inference

    task = get_task(TASK)
    start = time.time()
    root = eval_dir / "input"
    _link(base_input / task.slug("prep"), root / task.slug("prep"))
    _link(base_input / task.competition, root / task.competition)
    _link(train_dir, root / task.slug("train"))
    pseudo_slug = ""
    if variant.pseudo:
        from common.stages.pseudo.config import PseudoConfig
        from common.stages.pseudo.run import run_pseudo

        pseudo_slug = task.slug("pseudo")
        run_pseudo(replace_dotted(apply_preset(PseudoConfig, preset, TASK), {
            "input_root": str(root), "working_dir": str(root / pseudo_slug)}))
    cfg = replace_dotted(apply_preset(InferConfig, preset, TASK), {
        "input_root": str(root), "working_dir": str(eval_dir / "submission"),
        "pseudo_slug": pseudo_slug, "n_plot_files": 0, **variant.infer})
    run_inference(cfg)
    submission = read_csv_str(eval_dir / "submission" / "submission.csv")
    score = float(task.score(read_csv_str(answer_key), submission))
    seconds = time.time() - start
    done.write_text(json.dumps({"test_auc": score, "seconds": seconds, "seed": seed}) + "\n")
    return score, seconds


def _train_all(preset: str, base_input: Path, work_dir: Path, seeds: list[int],
               variants: dict[str, Variant], jobs: int) -> dict[str, pd.DataFrame]:
    """Every training of the table (the recipe and each train-level variant, every seed),
    ``jobs`` sweeps at a time, one thread per run when jobs > 1; each sweep's leaderboard by
    the name of its folder (``variants/<name>``)."""
    todo = {RECIPE: {}}
    todo.update({name: dict(v.train) for name, v in variants.items() if v.train})
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0

    def train(name: str) -> pd.DataFrame:
        return run_sweep(base_input, work_dir / "variants" / name, preset,
                         {"seed": [str(s) for s in seeds]}, fixed=todo[name], threads=threads)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(zip(todo, pool.map(train, todo)))


def run_ablation(preset: str, base_input: Path, answer_key: Path, work_dir: Path,
                 seeds: list[int], names: list[str], jobs: int = 1
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every variant in ``names`` (as :func:`resolve_variants` makes them) x every seed;
    returns ``(runs_df, leaderboard_df)``."""
    variants = resolve_variants(preset, names)
    boards = _train_all(preset, base_input, work_dir, seeds, variants, jobs)
    rows = []
    for name, variant in variants.items():
        # Variants that change no training (TTA, one fold, the pseudo round) reuse the
        # recipe's nb02 runs: the same models, only nb03/nb04 differ.
        trained = name if variant.train else RECIPE
        train_dir = work_dir / "variants" / trained
        for _, run in boards[trained].iterrows():
            row: dict[str, Any] = {"variant": name, "seed": int(run["seed"]),
                                   "what": variant.what, "status": run["status"],
                                   "cv_auc": run.get("cv_auc_mean"),
                                   "oof_auc": run.get("oof_auc"),
                                   "seconds": float(run.get("seconds", np.nan)),
                                   "test_auc": np.nan}
            run_dir = train_dir / "runs" / str(run["run_id"])
            eval_dir = work_dir / "variants" / name / "eval" / str(run["run_id"])
            report_path = run_dir / "train_report.json"
            if report_path.is_file():
                row["logreg_auc"] = json.loads(report_path.read_text()).get(
                    "logreg_reference_auc")
            if run["status"] == "ok":
                try:
                    test, seconds = _infer_and_score(preset, base_input, run_dir, eval_dir,
                                                     variant, answer_key, row["seed"])
                    row["test_auc"], row["seconds"] = test, row["seconds"] + seconds
                except Exception as err:  # one failed run is a row, the table goes on
                    log.warning("%s seed %s: nb03/nb04 failed: %s", name, row["seed"], err)
                    row["status"] = f"infer failed: {err}"[:300]
            rows.append(row)
        runs_df = pd.DataFrame(rows)
        runs_df.to_csv(work_dir / "ablation_runs.csv", index=False)
        board = leaderboard(runs_df)
        board.to_csv(work_dir / "leaderboard.csv", index=False)
        save_figure(_plot(board), work_dir / "leaderboard.png")
        log.info("ablation %s done:\n%s", name, board.to_string(index=False))
    return pd.DataFrame(rows), leaderboard(pd.DataFrame(rows))


def _prepare(args: argparse.Namespace, work_dir: Path) -> tuple[Path, Path]:
    """The competition (generated once unless given) and nb01's input root."""
    from devtools.pipeline import run_pipeline
    from devtools.synthetic.birdclef import generate_competition

    if args.competition_dir:
        competition_dir, answer_key = Path(args.competition_dir), Path(args.answer_key)
    else:
        root = work_dir / "competition"
        key = root / "answer_key" / "solution.csv"
        if not key.is_file():
            generate_competition(root, size=args.size, seed=args.data_seed)
        competition_dir, answer_key = root / TASK, key
    base = work_dir / "base"
    if not (base / "input" / get_task(TASK).slug("prep") / "train_folds.csv").is_file():
        run_pipeline(competition_dir, base, args.preset, None, ("nb01",), TASK)
    return base / "input", answer_key


def main(argv: list[str] | None = None) -> int:
    from common.core.runtime import setup_logging

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast",
                        help="preset of every stage (fast: the cpu recipe at 10 epochs; cpu; "
                        "smoke)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--only", default="", help=f"comma-separated variants of {list(VARIANTS)}"
                        " (default: all); the recipe row is always run")
    parser.add_argument("--work-dir", default="demo/ablate", help="where everything goes")
    parser.add_argument("--size", default="demo", help="synthetic competition size (tiny, demo)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--jobs", type=int, default=0,
                        help="trainings at a time, one thread each (0 = one per CPU)")
    parser.add_argument("--competition-dir", help="use this competition instead of generating")
    parser.add_argument("--answer-key", help="its solution CSV (with --competition-dir)")
    args = parser.parse_args(argv)
    if bool(args.competition_dir) != bool(args.answer_key):
        parser.error("--competition-dir and --answer-key go together")
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}: choose from {list(VARIANTS)}")
    names = [RECIPE, *[n for n in names if n != RECIPE]]
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(work_dir / "ablate.log")
    base_input, answer_key = _prepare(args, work_dir)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    jobs = args.jobs or (os.cpu_count() or 1)
    _, board = run_ablation(args.preset, base_input, answer_key, work_dir, seeds, names, jobs)
    print(board.to_string(index=False))
    return 0
