"""Tests for common.plots figures added for the mashup task."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from common import plots  # noqa: E402


def test_confusion_matrix_counts_and_title(tmp_path):
    classes = ["blues", "jazz", "rock"]
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 0])
    fig = plots.confusion_matrix(y_true, y_pred, classes, "fold 0")
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    np.testing.assert_allclose(image, [[0.5, 0.5, 0], [0, 1, 0], [1 / 3, 0, 2 / 3]])
    assert "accuracy 0.714" in ax.get_title() and ax.get_title().startswith("fold 0")
    assert [t.get_text() for t in ax.get_xticklabels()] == classes
    path = plots.save_figure(fig, tmp_path / "cm.png")
    assert path.stat().st_size > 1000
    counts = plots.confusion_matrix(y_true, y_pred, classes, normalize=False)
    assert counts.axes[0].get_images()[0].get_array().sum() == len(y_true)
