"""nb02, training: K-fold SED models with out-of-fold validation (entry point: ``run``).

- ``config``: :class:`TrainConfig` and its nested groups (optim, data, objective, session),
  presets, the config check and the checkpoint rule;
- ``run``: :func:`run_training`, the stage: every requested fold, then the run summary;
- ``fold``: :func:`train_fold`, one fold's epoch loop (build, resume, train, validate, save);
- ``items``: the window tables a fold trains and validates on (the task assembles them);
- ``distill``: the distillation term toward a pretrained teacher on soundscape windows;
- ``validation``: per-epoch validation of a fold (window and whole-clip kinds);
- ``optim``: loss, AdamW with layer-wise LR decay, the LR schedule, warm start;
- ``resume``: a fold's training state and its resume file;
- ``multigpu``: one process per GPU (``python -m common.stages.train.multigpu`` workers);
- ``summary``: the finished folds merged into the run's tables, plots and report;
- ``budget``: the run's projection at its start (hours per fold, sessions needed);
- ``track``: the finished run logged to the experiment tracker (csv, wandb or off);
- ``layout``: where checkpoints and per-fold files go.

What differs between competitions (which rows a fold holds, the validation, the out-of-fold
summary, config checks) is a method of the task (``common.tasks``), never a branch here.
"""
