"""Each stage's projected wall time and output size from counts and speeds: pure arithmetic.

Every function takes plain numbers (clips, windows, epochs, samples per second...) and returns
a :class:`Projection`: the figures, the limit they are held to, and, when they do not fit, a
problem line naming the knob to turn. The planner (:mod:`common.budget.plan`) feeds them the
resolved stage configs, the :class:`~common.budget.workload.Workload` and the throughputs; the
stages call the same functions at their start (:mod:`common.budget.fit`).

Units: seconds in, hours and GB out; float16 audio is 2 bytes per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["CSV_BYTES_PER_CELL", "Projection", "StageSpeeds", "audio_gb", "epoch_seconds",
           "infer_projection", "infer_seconds", "prep_projection", "pseudo_projection",
           "pseudo_round_hours", "train_projection"]

# A probability written with "%.5g" and its comma: "0.0012345," (pseudo-label tables).
CSV_BYTES_PER_CELL = 11


def audio_gb(seconds: float, sample_rate: int) -> float:
    """GB of ``seconds`` of float16 audio at ``sample_rate`` Hz."""
    return seconds * sample_rate * 2 / 1e9


@dataclass
class Projection:
    """One stage's row of the budget table."""

    stage: str  # "nb01 prep"
    work: str  # what it does, in counts
    hours: float  # projected wall time (all sessions)
    limit_text: str  # the time limit it is held to, as shown
    output_gb: float  # projected output size
    limit_gb: float
    problems: list[str] = field(default_factory=list)  # one per limit exceeded, naming the knob
    notes: list[str] = field(default_factory=list)  # choices made, figures' sources
    time_note: str = ""  # shown after the projected time ("2 sessions")

    @property
    def fits(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class StageSpeeds:
    """Training speeds on one accelerator: samples (5-s windows) per second."""

    train: float  # training step: augment, frontend, forward, backward
    evaluate: float  # validation forward passes
    loader: float  # what the loader workers of one process deliver


def epoch_seconds(train_rows: int, val_rows: int, speeds: StageSpeeds) -> float:
    """One epoch: ``train_rows`` through the slower of step and loader, plus validating
    ``val_rows`` windows."""
    return (train_rows / min(speeds.train, speeds.loader)
            + val_rows / max(speeds.evaluate, 1e-9))


def prep_projection(clip_cache_seconds: float, soundscape_cache_seconds: float,
                    decode_seconds: float, sample_rate: int, decode_rate: float, cores: int,
                    session_hours: float, max_cache_gb: float, output_gb: float, work: str
                    ) -> Projection:
    """nb01: decode every file once on ``cores`` processes, cache float16 audio.

    Args:
        clip_cache_seconds, soundscape_cache_seconds: audio kept in the cache, s.
        decode_seconds: audio decoded (clips whole, soundscapes whole), s.
        decode_rate: audio seconds one core decodes per second (``decode.cpu``).
    """
    hours = decode_seconds / (decode_rate * cores) / 3600
    gb = audio_gb(clip_cache_seconds + soundscape_cache_seconds, sample_rate)
    proj = Projection("nb01 prep", work, hours, f"{session_hours:g} h CPU", gb,
                      min(max_cache_gb, output_gb))
    if hours > session_hours:
        proj.problems.append(f"nb01 needs {hours:.1f} h > {session_hours:g} h: lower "
                             "prep.n_background_soundscapes or prep.max_clips")
    if gb > max_cache_gb:
        proj.problems.append(f"nb01's cache needs {gb:.1f} GB > prep.max_cache_gb="
                             f"{max_cache_gb:g}: lower prep.cache_seconds (or "
                             "prep.min_cache_seconds) or prep.n_background_soundscapes")
    if gb > output_gb:
        proj.problems.append(f"nb01's output needs {gb:.1f} GB > Kaggle's {output_gb:g} GB: "
                             "lower prep.max_cache_gb / prep.cache_seconds")
    return proj


def train_projection(train_rows: int, val_rows: int, epochs: int, n_folds: int, n_gpus: int,
                     speeds: StageSpeeds, session_hours: float, weekly_hours: float,
                     checkpoint_gb: float, output_gb: float, work: str) -> Projection:
    """nb02: ``n_folds`` folds of ``epochs`` epochs, one fold per GPU at a time, resumable.

    A session stops before an epoch that would end past ``session_hours`` and the next
    session resumes it, so a session holds ``session_hours`` minus at most one epoch. Fits
    when one epoch fits a session and the whole run fits the weekly GPU quota.
    """
    epoch_h = epoch_seconds(train_rows, val_rows, speeds) / 3600
    fold_h = epochs * epoch_h
    per_gpu_h = math.ceil(n_folds / max(1, n_gpus)) * fold_h
    usable = max(session_hours - epoch_h, 1e-9)
    sessions = max(1, math.ceil(per_gpu_h / usable))
    # Best and last checkpoints per fold; resume states (weights, EMA, 2 Adam moments) only
    # while a fold runs, one per GPU.
    gb = 2 * n_folds * checkpoint_gb + 4 * min(n_folds, n_gpus) * checkpoint_gb
    proj = Projection("nb02 train", work, per_gpu_h,
                      f"{session_hours:g} h/session, resumable", gb, output_gb)
    proj.time_note = f"{sessions} session{'s' if sessions > 1 else ''}"
    proj.notes.append(f"{sessions} session(s) of {session_hours:g} h on {n_gpus} GPU(s); "
                      f"{fold_h:.2f} h per fold, {epoch_h * 60:.1f} min per epoch")
    if epoch_h >= session_hours:
        proj.problems.append(f"nb02: one epoch takes {epoch_h:.1f} h >= a {session_hours:g} h "
                             "session: lower train.optim.max_steps_per_epoch")
    if per_gpu_h > weekly_hours:
        proj.problems.append(f"nb02 needs {per_gpu_h:.1f} GPU h > the {weekly_hours:g} h weekly "
                             "quota: lower train.optim.epochs or train.folds")
    if gb > output_gb:
        proj.problems.append(f"nb02's output needs {gb:.1f} GB > {output_gb:g} GB: set "
                             "train.session.keep_resume_state=false")
    return proj


def pseudo_round_hours(score_windows: int, n_members: int, n_passes: int, score_rate: float,
                       decode_seconds: float, decode_rate: float, cores: int,
                       train_rows: int, val_rows: int, epochs: int, n_folds: int, n_gpus: int,
                       speeds: StageSpeeds) -> tuple[float, float]:
    """One noisy-student round: ``(scoring hours, student hours)``.

    Scoring: ``score_windows`` x ``n_members`` x ``n_passes`` forward passes on one GPU
    (``score_rate`` window passes/s), with decoding running ahead on ``cores`` CPUs (the
    slower of the two). Students: nb02's arithmetic on ``train_rows`` (clips, soundscape
    windows and the pseudo windows) per fold.
    """
    score_s = max(score_windows * n_members * n_passes / score_rate,
                  decode_seconds / (decode_rate * cores))
    fold_s = epochs * epoch_seconds(train_rows, val_rows, speeds)
    return score_s / 3600, math.ceil(n_folds / max(1, n_gpus)) * fold_s / 3600


def pseudo_projection(round_hours: tuple[float, float], rounds: int, train_student: bool,
                      session_hours: float, cache_gb: float, table_rows: int, n_classes: int,
                      n_folds: int, checkpoint_gb: float, output_gb: float, work: str,
                      publish_hours: float = 0.0) -> Projection:
    """nb03: ``rounds`` rounds (:func:`pseudo_round_hours`) and ``publish_hours`` of writing
    inside one session.

    Output: the audio cache, per round the soft tables (the ensemble's and one per fold, plus
    the published copies of the final round), each round's students (best and last per fold)
    and the published students.
    """
    score_h, student_h = round_hours
    n_rounds = max(1, rounds)
    hours = n_rounds * score_h + (n_rounds * student_h if train_student and rounds else 0.0)
    hours += publish_hours
    table_gb = table_rows * (n_classes * CSV_BYTES_PER_CELL + 40) / 1e9
    tables = (n_rounds + 1) * (1 + n_folds) * table_gb
    students = (2 * n_rounds + 1) * n_folds * checkpoint_gb if train_student and rounds else 0.0
    gb = cache_gb + tables + students
    proj = Projection("nb03 pseudo", work, hours, f"{session_hours:g} h of one GPU session", gb,
                      output_gb)
    proj.notes.append(f"per round: scoring {score_h:.2f} h, students {student_h:.2f} h")
    if hours > session_hours:
        proj.problems.append(f"nb03 needs {hours:.1f} h > {session_hours:g} h in one session: "
                             "lower pseudo.max_windows, pseudo.student_epochs or pseudo.rounds "
                             "(or let nb03 size them: pseudo.fit_session=true)")
    if gb > output_gb:
        proj.problems.append(f"nb03's output needs {gb:.1f} GB > {output_gb:g} GB: lower "
                             "pseudo.cache_max_gb or pseudo.max_windows")
    return proj


def infer_seconds(n_files: int, windows_per_file: int, n_models: int, n_passes: int,
                  pass_rate: float, compile_seconds: float, shared_rate: float = float("inf")
                  ) -> float:
    """nb04's wall seconds: every window through the shared decoding and frontend once per view
    pass (``shared_rate``: window passes per second), then through every model's pass
    (``pass_rate``: window passes per second per model), plus loading and compiling each
    model (``compile_seconds``)."""
    window_passes = n_files * windows_per_file * n_passes
    return (window_passes / shared_rate + window_passes * n_models / pass_rate
            + n_models * compile_seconds)


def infer_projection(n_files: int, windows_per_file: int, n_models: int, n_passes: int,
                     pass_rate: float, compile_seconds: float, budget_minutes: float,
                     limit_minutes: float, output_gb: float, limit_gb: float, work: str,
                     shared_rate: float = float("inf")) -> Projection:
    """nb04: every window through every model and waveform view on Kaggle's CPU.

    ``pass_rate``: window passes per second per model (the model alone when ``shared_rate``
    is given, else decode and frontend included); ``shared_rate``: window passes per second of
    the decoding and frontend all models share (:func:`infer_seconds`); ``compile_seconds``:
    loading and compiling one model. Fits when the projection is inside the stage's own
    ``budget_minutes`` (which must leave a margin under ``limit_minutes``).
    """
    seconds = infer_seconds(n_files, windows_per_file, n_models, n_passes, pass_rate,
                            compile_seconds, shared_rate)
    hours = seconds / 3600
    proj = Projection("nb04 infer", work, hours,
                      f"{budget_minutes:g} of {limit_minutes:g} min", output_gb, limit_gb)
    if budget_minutes >= limit_minutes:
        proj.problems.append(f"nb04's budget {budget_minutes:g} min leaves no margin under "
                             f"Kaggle's {limit_minutes:g} min: lower "
                             "infer.predict.time_budget_minutes")
    if seconds / 60 > budget_minutes:
        proj.problems.append(f"nb04 needs {seconds / 60:.0f} min > its {budget_minutes:g} min "
                             "budget: lower infer.predict.max_views or the models "
                             "(infer.checkpoint_glob; nb04 would drop views, then models)")
    return proj
