import numpy as np
import pytest

pytest.importorskip("sklearn")

from common.tasks.birdclef.reference import fit_predict_logreg  # noqa: E402


def test_logreg_reference_ranks_a_linear_signal_and_keeps_untrainable_classes_constant():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.zeros((300, 3), np.float32)
    y[:, 0] = x[:, 0] > 0.5  # linearly separable on feature 0
    y[:, 1] = 1.0  # positive everywhere: nothing to learn
    # class 2 never positive
    x_test = rng.normal(size=(50, 6)).astype(np.float32)
    probs = fit_predict_logreg(x[:200], y[:200], x_test)
    assert probs.shape == (50, 3)
    truth = x_test[:, 0] > 0.5
    assert probs[truth, 0].min() > probs[~truth, 0].max() - 0.2
    assert np.corrcoef(probs[:, 0], x_test[:, 0])[0, 1] > 0.9
    assert np.allclose(probs[:, 1], 1.0) and np.allclose(probs[:, 2], 0.0)
