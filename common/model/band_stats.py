"""A linear path from per-band spectrogram statistics to the class logits.

A CNN that pools over frequency at the end keeps where in frequency a pattern sat only through
what its channels happen to encode, and a small one trained from scratch on a few hundred
clips encodes little of it. Pitch band is much of what tells species apart, and the mean,
spread and peak level of each mel band over a window carry it directly: a logistic regression
on them (:mod:`common.tasks.birdclef.reference`) beat the small CNN alone on the demo. This
path adds that linear evidence to the SED head's logits, trained end to end with the CNN, so
the CNN has only to learn what the band statistics miss (patterns in time, overlaps).
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["BandStats", "band_statistics"]


def band_statistics(spec: torch.Tensor) -> torch.Tensor:
    """Per mel band mean, std and max over frames.

    Args:
        spec: ``(B, C, n_mels, frames)``; only channel 0 (the spectrogram) is used.

    Returns:
        ``(B, 3 * n_mels)`` float32: means, then stds, then maxima.
    """
    x = spec[:, 0].float()
    return torch.cat([x.mean(-1), x.std(-1), x.amax(-1)], dim=1)


class BandStats(nn.Module):
    """Band statistics -> class logits: BatchNorm (the features' standardisation, with running
    statistics at inference), dropout, one linear layer. ``(B, C, n_mels, frames) -> (B, K)``.
    """

    def __init__(self, n_mels: int, num_classes: int, drop_rate: float = 0.25) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(3 * n_mels)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(3 * n_mels, num_classes)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.norm(band_statistics(spec))))
