"""The model that turns a waveform into class scores, and how it is saved.

- ``frontend``: waveform -> log-mel or PCEN spectrogram, on the model's device;
- ``sed``: the timm backbone with a SED head (GeM over frequency, attention pooling);
- ``band_stats``: an optional linear path from per-mel-band statistics to the logits, beside
  the CNN;
- ``losses``: ASL, BCE, focal and cross-entropy with masks and weights;
- ``checkpoint``: self-describing checkpoints (classes, frontend, backbone, fold, metrics, config)
  saved and loaded with ``torch.load(weights_only=True)``.
"""
