"""The mashup competition's feature baseline, end to end, and the lesson it carries.

    python benchmarks/mashup_baseline.py [--size demo] [--n-per-genre-per-fold 8] [--folds 4]
        [--models logreg,extra_trees,hgb] [--workers N] [--work-dir DIR]

On a synthetic "messy mashup" competition (:mod:`devtools.synthetic.mashup`, generated into
``--work-dir`` unless ``--competition-dir`` is given):

1. song-level folds, and ``--n-per-genre-per-fold`` training mashups per genre per fold
   (:func:`common.tasks.mashup.generation.generate_mashups`, the default recipe);
2. the 194 features of every training mashup, every original song (its four stems summed, as
   the training data ships) and every test clip (:mod:`common.tasks.mashup.features`);
3. logistic regression and a tree ensemble: out-of-fold macro F1 on mashups, the OOF-chosen
   blend, and macro F1 on the hidden test clips (:func:`common.tasks.base.score` with the answer
   key);
4. the same models trained on the original songs instead of mashups, scored on the same test
   clips: the size of the domain gap that simulating the test domain closes.

Prints figures and writes the confusion matrices under ``--work-dir``; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.core.parallel import parallel_map, process_pool  # noqa: E402
from common.core.runtime import cpu_count  # noqa: E402
from common.report import plots, prediction_plots  # noqa: E402
from common.tasks.mashup import TASK as MASHUP  # noqa: E402
from common.tasks.mashup.feature_models import (  # noqa: E402
    blend,
    blend_weights,
    encode_labels,
    fit_feature_models,
    macro_f1_probs,
    predict_feature_models,
)
from common.tasks.mashup.features import extract_features, extract_file_features  # noqa: E402
from common.tasks.mashup.generation import generate_mashups  # noqa: E402
from common.tasks.mashup.recipe import MashupConfig  # noqa: E402
from common.tasks.mashup.stems import assign_song_folds, check_audio, list_songs  # noqa: E402
from devtools.synthetic.mashup import generate_mashup_competition  # noqa: E402


def song_features(song_dir: str, sample_rate: int) -> np.ndarray:
    """Features of an original song: its usable stems summed (the un-mashed training data)."""
    cfg = MashupConfig(sample_rate=sample_rate)
    waves = [w for w in (check_audio(p, cfg)[0] for p in sorted(Path(song_dir).glob("*.wav")))
             if w is not None]
    mix = np.zeros(max(w.size for w in waves), np.float32)
    for w in waves:
        mix[: w.size] += w
    return extract_features(mix, sample_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="demo", help="synthetic size (tiny or demo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--competition-dir", default="", help="use this competition instead")
    parser.add_argument("--answer-key", default="", help="its solution.csv")
    parser.add_argument("--work-dir", default="", help="default: a temporary folder")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--n-per-genre-per-fold", type=int, default=8)
    parser.add_argument("--models", default="logreg,extra_trees",
                        help="comma-separated keys of "
                             "common.tasks.mashup.feature_models.MODEL_BUILDERS")
    parser.add_argument("--workers", type=int, default=0, help="0 = every CPU")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    workers = args.workers or cpu_count()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="mashup_baseline_"))
    timings = {}

    started = time.perf_counter()
    if args.competition_dir:
        competition_dir, answer_key = Path(args.competition_dir), Path(args.answer_key)
    else:
        made = generate_mashup_competition(work / "synthetic", args.size, args.seed, workers)
        competition_dir, answer_key = made.competition_dir, made.answer_key_path
    timings["synthetic competition"] = time.perf_counter() - started
    classes = MASHUP.read_classes(competition_dir)
    rate = MASHUP.sample_rate

    pool = process_pool(workers)
    try:
        started = time.perf_counter()
        folds_df = assign_song_folds(list_songs(competition_dir / "train"), args.folds, args.seed)
        mashups_df = generate_mashups(competition_dir / "train", competition_dir / "noise",
                                      work / "mashups", folds_df, args.n_per_genre_per_fold,
                                      MashupConfig(), args.seed, workers, pool=pool)
        timings["training mashups"] = time.perf_counter() - started

        started = time.perf_counter()
        X, _ = extract_file_features([work / "mashups" / f for f in mashups_df["filename"]],
                                     rate, pool=pool)
        test_paths = sorted((competition_dir / "test").glob("*.wav"))
        X_test, _ = extract_file_features(test_paths, rate, pool=pool)
        song_dirs = [str(competition_dir / "train" / g / s)
                     for g, s in zip(folds_df["genre"], folds_df["song_id"])]
        X_songs = np.stack(parallel_map(song_features, [(d, rate) for d in song_dirs], pool=pool,
                                        desc="song features", unit="song", star=True))
        timings["features"] = time.perf_counter() - started
    finally:
        if pool is not None:
            pool.shutdown()

    started = time.perf_counter()
    models = tuple(args.models.split(","))
    y = encode_labels(mashups_df["genre"], classes)
    fitted = fit_feature_models(X, y, mashups_df["fold"].to_numpy(), classes, models, args.seed)
    oof = [fitted.oof[m] for m in models]
    weights = blend_weights(oof, y)
    test_probs = predict_feature_models(fitted, X_test)
    ids = [p.stem for p in test_paths]
    solution_df = pd.read_csv(answer_key, dtype=str)
    results = []
    for name, probs_oof, probs_test in [*((m, fitted.oof[m], test_probs[m]) for m in models),
                                        ("blend", blend(oof, weights),
                                         blend([test_probs[m] for m in models], weights))]:
        submission = MASHUP.format_submission(ids, probs_test, classes)
        results.append({"train on": "mashups", "model": name,
                        "oof_macro_f1": macro_f1_probs(y, probs_oof),
                        "test_macro_f1": MASHUP.score(solution_df, submission)})
    # The same models on the original songs (no mashups): the domain gap.
    y_songs = encode_labels(folds_df["genre"], classes)
    on_songs = fit_feature_models(X_songs, y_songs, folds_df["fold"].to_numpy(), classes,
                                  models, args.seed)
    for name, probs_test in predict_feature_models(on_songs, X_test).items():
        submission = MASHUP.format_submission(ids, probs_test, classes)
        results.append({"train on": "original songs", "model": name,
                        "oof_macro_f1": macro_f1_probs(y_songs, on_songs.oof[name]),
                        "test_macro_f1": MASHUP.score(solution_df, submission)})
    timings["models"] = time.perf_counter() - started

    best = blend([test_probs[m] for m in models], weights)
    y_test = encode_labels(solution_df.set_index("id").loc[ids, "genre"], classes)
    figure = plots.save_figure(
        prediction_plots.confusion_matrix(y_test, best.argmax(axis=1), classes,
                                          "blend on test clips"),
        work / "confusion_test_blend.png")
    plots.save_figure(prediction_plots.confusion_matrix(y, blend(oof, weights).argmax(axis=1),
                                                        classes, "blend OOF"),
                      work / "confusion_oof_blend.png")

    print(f"\nmessy-mashup feature baseline: {len(mashups_df)} training mashups "
          f"({args.n_per_genre_per_fold}/genre/fold, {args.folds} folds), {len(folds_df)} songs, "
          f"{len(test_paths)} test clips, {X.shape[1]} features, workers={workers}")
    print(pd.DataFrame(results).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("blend weights:", dict(zip(models, np.round(weights, 2).tolist())))
    print("seconds:", {k: round(v, 1) for k, v in timings.items()})
    print(f"confusion matrices: {figure.parent}")


if __name__ == "__main__":
    main()
