"""nb04, inference: an ensemble of nb02/nb03 checkpoints over the test audio, on CPU.

- ``config``: :class:`InferConfig` (the stage) nesting :class:`PredictConfig` (the engine,
  shared with nb03's teacher pass);
- ``members``: checkpoints -> checked, compiled ensemble members;
- ``backends``: where the members run (PyTorch, ONNX Runtime, OpenVINO; export, int8, offline
  install);
- ``tta``: the test-time views (waveform transforms, SpecAugment'd passes);
- ``decode``: test audio listed, decoded ahead of the models and cut into windows;
- ``predictor``: the timed prediction loop (:func:`predict_files`, the engine's entry point);
- ``ensemble``: combination maths, temporal smoothing, clip pooling, the time-budget rule;
- ``submission``: window row ids, the sample submission's order, validation;
- ``rows``: :class:`SubmissionRows`, the task's strategy for rows, figures and report entries;
- ``teacher_blend``: a pretrained teacher rank-blended in when its cost fits the budget;
- ``budget``: the first projection from the budget's throughput facts (fewer views if needed);
- ``report``: ``infer_report.json`` and ``infer_timings.csv``;
- ``run``: :func:`run_inference`, the stage.
"""
