"""nb03, pseudo labels and noisy students: a teacher labels unlabelled audio, students learn.

- ``config``: :class:`PseudoConfig`, nesting nb04's engine config for the teacher pass;
- ``score``: one teacher pass (ensemble and per-fold probabilities of every window);
- ``cache``: the decoded audio kept for the students, pruned to what the tables use;
- ``tables``: pure functions from probabilities to pseudo-label tables (windows and clips);
- ``labels``: :class:`PseudoLabeller`, the task's strategy, and the one round-writing path;
- ``subsets`` and ``curate``: curated positives and hard negatives (tables, then files);
- ``teacher_blend``: a pretrained teacher (BirdNET, Perch) blended into the soft labels;
- ``budget``: the stage sized to one session and kept by a deadline from the notebook's start;
- ``students``: teacher recipe -> student config, published students, the teacher's scores;
- ``evidence``: a task's out-of-fold predictions and the paired bootstrap of a student's gain;
- ``gate``: which student round (if any) is published: one that beats its teacher out of fold,
  beyond the spread over the validation files;
- ``run``: :func:`run_pseudo`, the stage.
"""
