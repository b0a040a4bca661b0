import dataclasses
import json
from typing import ClassVar

import pytest

from common.core.config import (
    StageConfig,
    build_parser,
    config_from_dict,
    config_to_dict,
    flatten,
    param,
    replace_dotted,
    resolve_config,
    save_config,
)


@dataclasses.dataclass(frozen=True)
class Inner:
    n_mels: int = param(128, "mel bins")
    mode: str = param("logmel", "frontend mode")


@dataclasses.dataclass(frozen=True)
class Stage:
    preset: str = param("default", "preset name")
    lr: float = param(1e-3, "learning rate")
    folds: tuple[int, ...] = param((0, 1, 2), "folds to train")
    ema: bool = param(False, "weight EMA")
    inner: Inner = param(Inner(), "frontend")

    PRESETS = {"smoke": {"lr": 0.5, "inner.n_mels": 32}}


def test_preset_then_overrides_then_cli():
    cfg = resolve_config(Stage, "smoke", {"lr": 0.25, "folds": "3,4"}, argv=["--lr", "0.125"])
    assert cfg.preset == "smoke"
    assert cfg.lr == 0.125          # CLI wins over overrides
    assert cfg.folds == (3, 4)      # overrides win over preset/defaults, strings are split
    assert cfg.inner.n_mels == 32   # from the preset, nested
    assert cfg.inner.mode == "logmel"


def test_cli_preset_wins_and_nested_flags():
    cfg = resolve_config(Stage, "default", argv=["--preset", "smoke", "--inner.n-mels", "64",
                                                 "--ema", "true"])
    assert (cfg.preset, cfg.lr, cfg.inner.n_mels, cfg.ema) == ("smoke", 0.5, 64, True)


def test_unknown_parameter_is_a_clear_error():
    with pytest.raises(KeyError, match="no parameter 'n_mel'.*inner.n_mels"):
        resolve_config(Stage, "default", {"n_mel": 3}, argv=[])


def test_bad_values_name_the_parameter():
    with pytest.raises(ValueError, match="'ema' expects true/false"):
        resolve_config(Stage, "default", {"ema": "maybe"}, argv=[])
    with pytest.raises(ValueError, match="'lr' expects float"):
        resolve_config(Stage, "default", argv=["--lr", "fast"])
    with pytest.raises(KeyError, match="unknown preset 'huge'"):
        resolve_config(Stage, "huge", argv=[])


def test_help_lists_every_parameter_with_default_and_meaning():
    text = build_parser(Stage).format_help()
    for flag, default, meaning in [("--lr", "0.001", "learning rate"),
                                   ("--folds", "0,1,2", "folds to train"),
                                   ("--inner.n-mels", "128", "mel bins"),
                                   ("--preset", "smoke", "named preset")]:
        assert flag in text and default in text and meaning in text


def test_json_round_trip(tmp_path):
    cfg = replace_dotted(Stage(), {"inner.mode": "pcen", "folds": (1,)})
    path = save_config(cfg, tmp_path / "c.json")
    data = json.loads(path.read_text())
    assert data["inner"]["mode"] == "pcen" and data["folds"] == [1]
    assert config_from_dict(Stage, config_to_dict(cfg)) == cfg
    assert flatten(cfg)["inner.mode"] == "pcen"


def test_mutable_defaults_are_refused():
    with pytest.raises(TypeError, match="tuples"):
        param([1, 2], "a list")


def test_every_parameter_of_every_stage_config_says_what_it_does():
    # One config style: every field is a param(default, help), so --help explains all of them,
    # nested configs (frontend, model, augment, mashup recipe...) and task subclasses included.
    from common.core.config import default_config, leaf_fields
    from common.stages.infer.config import InferConfig
    from common.stages.prep.config import PrepConfig
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.train.config import TrainConfig
    from common.tasks import task_names

    for task in task_names():
        for cls in (PrepConfig, TrainConfig, PseudoConfig, InferConfig):
            cfg = default_config(cls, task)
            missing = [name for name, (_, _, text) in leaf_fields(type(cfg), defaults=cfg).items()
                       if not text.strip()]
            assert not missing, f"{type(cfg).__name__} ({task}) fields without help: {missing}"


def test_every_stage_config_shares_the_stage_fields():
    from common.core.config import StageConfig
    from common.stages.infer.config import InferConfig
    from common.stages.prep.config import PrepConfig
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.train.config import TrainConfig

    for cls in (PrepConfig, TrainConfig, PseudoConfig, InferConfig):
        assert issubclass(cls, StageConfig)
        cfg = resolve_config(cls, "smoke", argv=["--input-root", "/in", "--working-dir", "/out"])
        assert (cfg.preset, cfg.input_root, str(cfg.output_dir)) == ("smoke", "/in", "/out")
        assert "--competition" in build_parser(cls).format_help()


def test_the_fast_preset_is_the_cpu_recipe_with_fewer_epochs_only():
    # "fast" scales the cpu run (ablation tables of dozens of trainings): a technique that
    # differed between the two would make the table measure another recipe.
    from common.core.config import PRESET_NAMES, apply_preset, flatten, stage_class
    from common.stages.infer.config import InferConfig
    from common.stages.prep.config import PrepConfig
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.train.config import TrainConfig
    from common.tasks import task_names

    assert "fast" in PRESET_NAMES
    scale = {"optim.epochs", "rounds", "student_epochs"}
    for task in task_names():
        for cls in (PrepConfig, TrainConfig, PseudoConfig, InferConfig):
            task_cls = stage_class(cls, task)
            cpu = flatten(apply_preset(task_cls, "cpu", task))
            fast = flatten(apply_preset(task_cls, "fast", task))
            changed = {k for k in cpu if cpu[k] != fast[k] and k != "preset"}
            assert changed <= scale, f"{task_cls.__name__} ({task}): fast also changes {changed}"
            for key in changed:
                assert fast[key] < cpu[key], (task, key)
    assert flatten(apply_preset(TrainConfig, "fast"))["optim.epochs"] == 10


@dataclasses.dataclass(frozen=True)
class TaskStage(StageConfig):
    lr: float = param(1e-3, "learning rate")
    dataset_slug: str = param("", "output slug")
    prep_slug: str = param("", "input slug")
    loss: str = param("asl", "loss")
    crop_mode: str = param("energy", "crop")
    inner: Inner = param(Inner(), "frontend")

    STAGE: ClassVar[str] = "train"
    PRESETS: ClassVar[dict] = {"smoke": {"lr": 0.5, "inner.n_mels": 32, "crop_mode": "start"}}


def test_config_is_composed_from_task_defaults_then_preset_then_overrides_then_flags():
    birds = resolve_config(TaskStage, "smoke", {}, argv=[])
    assert (birds.task, birds.competition, birds.dataset_slug, birds.prep_slug, birds.loss) == (
        "birdclef-2026", "birdclef-2026", "birdclef-2026-models", "birdclef-2026-prep", "asl")
    assert (birds.lr, birds.inner.n_mels) == (0.5, 32)  # the preset scales the run
    cfg = resolve_config(TaskStage, "smoke", {}, argv=[], task="messy-mashup")
    assert cfg.task == "messy-mashup" and cfg.task_spec.metric == "macro_f1"
    # slugs and competition derived from the task's name, its own choices applied
    assert (cfg.competition, cfg.dataset_slug, cfg.prep_slug, cfg.loss) == (
        "messy-mashup", "messy-mashup-models", "messy-mashup-prep", "cross_entropy")
    assert cfg.crop_mode == "start"  # the preset comes after the task's defaults
    assert resolve_config(TaskStage, "default", {}, argv=[], task="messy-mashup").crop_mode \
        == "random"
    # the notebook's OVERRIDES and the CLI still win over both
    cfg = resolve_config(TaskStage, "smoke", {"lr": 0.25, "loss": "cross_entropy"},
                         argv=["--inner.n-mels", "16"], task="messy-mashup")
    assert (cfg.lr, cfg.inner.n_mels, cfg.dataset_slug) == (0.25, 16, "messy-mashup-models")


def test_a_unique_leaf_name_is_an_alias_of_its_dotted_field():
    cfg = resolve_config(Stage, "default", {"n_mels": 80}, argv=["--mode", "pcen"])
    assert (cfg.inner.n_mels, cfg.inner.mode) == (80, "pcen")
    assert "--n-mels" in build_parser(Stage).format_help()
    assert replace_dotted(Stage(), {"mode": "pcen"}).inner.mode == "pcen"


def test_task_from_cli_or_overrides_wins_over_the_parameter():
    cfg = resolve_config(TaskStage, "default", {}, argv=["--task", "messy-mashup"],
                         task="birdclef-2026")
    assert cfg.dataset_slug == "messy-mashup-models"
    cfg = resolve_config(TaskStage, "default", {"task": "messy-mashup"}, argv=[])
    assert (cfg.task, cfg.dataset_slug) == ("messy-mashup", "messy-mashup-models")


def test_unknown_task_lists_the_registered_ones():
    with pytest.raises(KeyError, match="messy-mashup"):
        resolve_config(TaskStage, "default", {}, argv=["--task", "gtzan"])
