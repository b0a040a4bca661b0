"""Where nb04's models run: PyTorch, ONNX Runtime or OpenVINO, behind ``predict.backend``.

Every member's ``spec (batch, 1, n_mels, frames) -> clip logits (batch, classes)`` half is
exported once to ONNX (the frontend stays shared in PyTorch, one spectrogram per batch and view
for every member), checked against PyTorch on the first real batch, cached next to its
checkpoint, and run with the thread settings its backend wants.

The torch backend is :func:`common.stages.infer.members.compile_runner` (traced, frozen,
channels-last), the default.

- ``base``: the backend names, what each needs installed, the check against PyTorch, timing;
- ``export``: the ONNX export and its cache (next to the checkpoint, or keyed by its hash);
- ``onnx_backend``: ONNX Runtime sessions (intra-op threads, inter-op 1, every graph
  optimisation) and static int8 quantization (QDQ);
- ``openvino_backend``: OpenVINO CPU models (``INFERENCE_NUM_THREADS``, latency hint, fp32)
  and static int8 quantization (NNCF);
- ``int8``: int8 per backend (cached beside the fp32 export) and its guard (macro-AUC change
  on labelled windows, refused above a tolerance or when not faster);
- ``select``: :func:`build_runner` (one member, one backend or ``auto``: the fastest measured)
  and :func:`measured_speeds` (windows/s per backend, for the time budget);
- ``install``: the offline install of shipped wheels on Kaggle, or the fallback to torch;
- ``allocator``: glibc ``mallopt`` settings that stop per-batch page faults.
"""
