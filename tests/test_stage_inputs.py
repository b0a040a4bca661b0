"""Every stage checks its inputs before it writes: a wrong input root leaves no working dir."""

import logging

import pytest

from common.core.config import apply_preset, replace_dotted
from common.core.runtime import setup_logging
from common.stages.infer.config import InferConfig
from common.stages.infer.run import run_inference
from common.stages.prep.config import PrepConfig
from common.stages.prep.run import run_prep
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.run import run_pseudo
from common.stages.train.config import TrainConfig
from common.stages.train.run import run_training

STAGES = [(PrepConfig, run_prep, "nb01"), (TrainConfig, run_training, "nb02"),
          (PseudoConfig, run_pseudo, "nb03"), (InferConfig, run_inference, "nb04")]


@pytest.mark.parametrize(("cls", "run", "name"), STAGES, ids=[s[2] for s in STAGES])
def test_a_wrong_input_root_is_a_clear_error_that_writes_nothing(cls, run, name, tmp_path):
    working_dir = tmp_path / "work"
    cfg = replace_dotted(apply_preset(cls, "smoke"), {
        "input_root": str(tmp_path / "no-such-input"), "working_dir": str(working_dir)})
    try:
        setup_logging(working_dir / f"{name}.log")  # as the notebook does, before the stage
        with pytest.raises(FileNotFoundError) as err:
            run(cfg)
    finally:
        setup_logging(None)
        for handler in logging.getLogger().handlers:
            handler.close()
    assert "no-such-input" in str(err.value) or "attach" in str(err.value).lower()
    assert not working_dir.exists(), f"{name} wrote {sorted(working_dir.rglob('*'))}"
