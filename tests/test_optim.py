"""Tests for common.stages.train.optim: the fine-tuning recipe is consistent (layer-wise LR
decay only from trained weights) and folds whose weights are replaced never fetch pretrained
ones."""

import dataclasses

import pytest

from common.core.config import apply_preset, replace_dotted
from common.stages.train.config import TrainConfig, check_config
from common.stages.train.optim import check_fine_tuning, initial_model_config
from common.tasks import task_names


@pytest.mark.parametrize("task", task_names())
@pytest.mark.parametrize("preset", ["default", "cpu", "smoke"])
def test_every_recipe_is_consistent(task, preset):
    cfg = apply_preset(TrainConfig, preset, task=task)
    check_fine_tuning(cfg)
    if preset == "default":  # the Kaggle recipe fine-tunes pretrained weights
        assert cfg.model.pretrained and cfg.optim.layer_decay < 1
        assert cfg.optim.warmup_epochs > 0
    else:  # presets scale the model: small backbones from scratch, no download
        assert not cfg.model.pretrained and cfg.optim.layer_decay == 1.0


def test_layer_decay_from_scratch_is_refused_naming_the_fix():
    cfg = replace_dotted(TrainConfig(), {"model.pretrained": False})
    with pytest.raises(ValueError, match="optim.layer_decay=1.0.*model.pretrained on"):
        check_config(cfg)
    check_fine_tuning(replace_dotted(cfg, {"optim.layer_decay": 1.0}))
    # A warm start is trained weights too (nb03's students start from their teacher).
    check_fine_tuning(replace_dotted(cfg, {"init_checkpoint": "teacher_fold{fold}_best.pt"}))


def test_replaced_weights_are_never_fetched():
    cfg = replace_dotted(TrainConfig(), {"model.pretrained_file": "/kaggle/input/w/b0.pth"})
    assert initial_model_config(cfg, replaced=False) == cfg.model
    built = initial_model_config(cfg, replaced=True)
    assert not built.pretrained and built.pretrained_file == ""
    assert dataclasses.replace(built, pretrained=True, pretrained_file="/kaggle/input/w/b0.pth"
                               ) == cfg.model  # nothing else changes


def test_nb02_help_shows_the_pretrained_switch_on(capsys):
    from common.core.config import resolve_config

    with pytest.raises(SystemExit):
        resolve_config(TrainConfig, argv=["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--model.pretrained BOOL, --pretrained BOOL start the backbone from pretrained" in text
    assert "off = random init (default: True)" in text
    assert "--model.pretrained-file STR, --pretrained-file STR" in text
