"""Stage configs and how a notebook's parameters become one.

Every stage has one frozen dataclass whose defaults are the real Kaggle recipe, plus named
presets (``smoke`` for tests, ``cpu`` for a laptop). A notebook resolves its config the same way
whether it runs on Kaggle (no arguments), as a local script (``--param value`` flags) or as an
executed notebook (a papermill ``parameters`` cell): preset, then the notebook's ``OVERRIDES``,
then command-line flags, each later one winning.

Nested dataclass fields (for example ``frontend.n_mels``) are addressed with dotted names, on the
command line as ``--frontend.n-mels 64`` and in ``OVERRIDES`` as ``{"frontend.n_mels": 64}``.

Every stage also has a ``task`` (a :mod:`common.tasks` name). A config is composed in one order:
the class defaults, then the task's defaults (:meth:`common.tasks.base.Task.config_defaults`:
competition, dataset slugs, sample rate and the task's own choices), then the preset (which only
scales a run: epochs, folds, model size, sizes of samples), then the notebook's ``OVERRIDES``,
then command-line flags. A task may also extend a stage's config class with fields of its own
(:meth:`common.tasks.base.Task.config_class`).

A leaf field may also be named by its last part alone when no other leaf has that name
(``epochs`` for ``optim.epochs``), so flags and ``OVERRIDES`` stay short.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")

PRESET_NAMES = ("default", "cpu", "fast", "smoke")


def describe(help_text: str, **kwargs: Any) -> dict[str, Any]:
    """Field metadata carrying the ``--help`` text of a config field."""
    return {"help": help_text, **kwargs}


def param(default: Any, help_text: str) -> Any:
    """A config field with a default and the sentence ``--help`` shows for it."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults: configs are frozen and hashable")
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=describe(help_text))
    return dataclasses.field(default=default, metadata=describe(help_text))


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """Fields every stage has: where inputs are, where outputs go, which preset it came from.

    Stage configs subclass it and add their own parameters and ``PRESETS``.
    """

    preset: str = param("default", "name of the preset this config started from")
    task: str = param("birdclef-2026", "competition task: a name registered in common.tasks; "
                      "sets the task's defaults (Task.config_defaults)")
    input_root: str = param("/kaggle/input", "folder laid out like /kaggle/input")
    working_dir: str = param("/kaggle/working", "where outputs go")
    competition: str = param("birdclef-2026", "competition slug under the input root")

    @property
    def output_dir(self) -> Path:
        return Path(self.working_dir)

    @property
    def task_spec(self) -> Any:
        """The :class:`common.tasks.base.Task` named by ``task``."""
        from common.tasks import get_task

        return get_task(self.task)


# ---------------------------------------------------------------------------------------------
# Flattening nested dataclasses into dotted keys and back.


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{dotted_name: value}`` for every leaf field of a (nested) config dataclass."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


def leaf_fields(cls: type, prefix: str = "", defaults: Any = None
                ) -> dict[str, tuple[Any, Any, str]]:
    """``{dotted_name: (type, default, help)}`` for every leaf field of a config class.

    ``defaults``: the instance whose values are the defaults (``cls()`` when ``None``); a nested
    field's defaults are the parent's default value of it, which may differ from its class's.
    """
    out: dict[str, tuple[Any, Any, str]] = {}
    hints = _field_types(cls)
    defaults = cls() if defaults is None else defaults
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default = getattr(defaults, f.name)
        if dataclasses.is_dataclass(default):
            out.update(leaf_fields(type(default), f"{prefix}{f.name}.", default))
        else:
            help_text = f.metadata.get("help", "")
            out[f"{prefix}{f.name}"] = (tp, default, help_text)
    return out


def replace_dotted(config: C, changes: dict[str, Any]) -> C:
    """``dataclasses.replace`` that accepts dotted keys for nested fields.

    Unknown keys raise a ``KeyError`` that lists the valid names, so a typo in a notebook's
    ``OVERRIDES`` fails loudly instead of being ignored.
    """
    if not changes:
        return config
    valid = leaf_fields(type(config))
    nested: dict[str, dict[str, Any]] = {}
    direct: dict[str, Any] = {}
    for key, value in changes.items():
        key = resolve_alias(key, valid)
        if isinstance(value, dict) and dataclasses.is_dataclass(getattr(config, key, None)):
            for sub_key, sub_value in value.items():
                nested.setdefault(key, {})[sub_key] = sub_value
            continue
        if key not in valid:
            close = [name for name in valid if key.split(".")[-1] in name]
            hint = f" Did you mean: {', '.join(close[:5])}?" if close else ""
            raise KeyError(
                f"{type(config).__name__} has no parameter {key!r}.{hint} "
                f"Run the script with --help for the full list."
            )
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = _coerce(valid[key][0], value, key)
    for head, sub in nested.items():
        direct[head] = replace_dotted(getattr(config, head), sub)
    return dataclasses.replace(config, **direct)


def resolve_alias(key: str, valid: dict[str, Any]) -> str:
    """``key`` itself when it is a field, else the one leaf whose last part is ``key``
    (``epochs`` -> ``optim.epochs``); unknown or ambiguous keys come back unchanged."""
    if key in valid or "." in key:
        return key
    matches = [name for name in valid if name.rsplit(".", 1)[-1] == key]
    return matches[0] if len(matches) == 1 else key


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _coerce(tp: Any, value: Any, name: str) -> Any:
    """Convert a CLI string (or a JSON value) to the field's declared type."""
    tp = _strip_optional(tp)
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is tuple:
        (item_tp, *_) = typing.get_args(tp) or (str,)
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        else:
            items = list(value)
        return tuple(_coerce(item_tp, v, name) for v in items)
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"parameter {name!r} expects true/false, got {value!r}")
    if tp in (int, float, str):
        try:
            return tp(value)
        except ValueError as err:
            raise ValueError(f"parameter {name!r} expects {tp.__name__}, got {value!r}") from err
    return value


# ---------------------------------------------------------------------------------------------
# Presets and resolution.


def stage_class(cls: type[C], task: str) -> type[C]:
    """The config class a task uses for a stage: ``cls`` or the task's subclass of it."""
    from common.tasks import get_task

    return get_task(task).config_class(cls)


def default_config(cls: type[C], task: str | None = None) -> C:
    """The class defaults with the task's defaults applied (``task=None``: the class default).

    A class without a ``task`` field (a nested config) is returned as ``cls()``. Unknown task
    names raise a ``KeyError`` listing the registered ones.
    """
    config = cls()
    if not hasattr(config, "task"):
        return config
    from common.tasks import get_task

    spec = get_task(task or config.task)
    cls = spec.config_class(cls)
    stage = getattr(cls, "STAGE", "")
    fields = leaf_fields(cls)
    # A task may name a nested field by its unique leaf name (``loss`` for objective.loss).
    names = (*fields, *{name.rsplit(".", 1)[-1] for name in fields
                        if resolve_alias(name.rsplit(".", 1)[-1], fields) == name})
    return replace_dotted(cls(), spec.config_defaults(stage, names))


def apply_preset(cls: type[C], preset: str, task: str | None = None) -> C:
    """A named preset of a stage: class defaults, the task's defaults, then ``PRESETS[preset]``."""
    config = default_config(cls, task)
    presets: dict[str, dict[str, Any]] = getattr(type(config), "PRESETS", {})
    if preset == "default":
        return config
    if preset not in presets:
        raise KeyError(
            f"unknown preset {preset!r} for {cls.__name__}; choose one of "
            f"{', '.join(['default', *presets])}"
        )
    return replace_dotted(config, presets[preset])


def build_parser(cls: type, description: str = "", defaults: Any = None
                 ) -> argparse.ArgumentParser:
    """An argparse parser with one ``--flag`` per leaf field, its default and its meaning.

    ``defaults``: the instance whose values ``--help`` shows (``cls()`` when ``None``).
    """
    # Defaults are written into each help line by hand: the parser's own defaults are None so
    # that only flags actually given override the preset.
    parser = argparse.ArgumentParser(description=description)
    presets = ["default", *getattr(cls, "PRESETS", {})]
    parser.add_argument("--preset", default=None, choices=presets,
                        help="named preset the other parameters start from (default: default)")
    fields = leaf_fields(cls, defaults=defaults)
    for name, (tp, default, help_text) in fields.items():
        if name == "preset":  # set through --preset above
            continue
        flags = ["--" + name.replace("_", "-")]
        leaf = name.rsplit(".", 1)[-1]
        if "." in name and resolve_alias(leaf, fields) == name:
            flags.append("--" + leaf.replace("_", "-"))  # the short form of a unique leaf
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(
            *flags, dest=name, default=None, metavar=_metavar(tp),
            help=f"{help_text} (default: {shown!r})",
        )
    return parser


def _metavar(tp: Any) -> str:
    tp = _strip_optional(tp)
    if typing.get_origin(tp) is tuple:
        return "A,B,..."
    return getattr(tp, "__name__", "VALUE").upper()


def running_in_notebook() -> bool:
    """True inside a Jupyter kernel, where ``sys.argv`` holds the kernel's own arguments."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def resolve_config(
    cls: type[C],
    preset: str = "default",
    overrides: dict[str, Any] | None = None,
    argv: list[str] | None = None,
    description: str = "",
    task: str | None = None,
) -> C:
    """Build a stage config: defaults, the task's defaults, the preset, ``overrides``, then flags.

    Args:
        cls: the stage's config dataclass (a task may swap in its subclass).
        preset: preset named in the notebook's parameters cell (a ``--preset`` flag wins).
        overrides: ``{dotted_name: value}`` from the notebook's parameters cell.
        argv: command-line arguments; ``None`` reads ``sys.argv[1:]`` when running as a script
            and nothing inside a notebook kernel.
        task: task named in the notebook's parameters cell (``None``: the class default); a
            ``--task`` flag wins, then a ``"task"`` key of ``overrides``.
    """
    if argv is None:
        argv = [] if running_in_notebook() else sys.argv[1:]
    overrides = dict(overrides or {})
    # The task and preset pick the class and the defaults --help shows: read them first.
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--preset", default=None)
    first.add_argument("--task", default=None)
    known, _ = first.parse_known_args(argv)
    chosen = known.preset or preset
    has_task = "task" in {f.name for f in dataclasses.fields(cls)}
    chosen_task = (known.task or overrides.pop("task", None) or task) if has_task else None
    config = apply_preset(cls, chosen, chosen_task)
    parser = build_parser(type(config), description, defaults=config)
    args = parser.parse_args(argv)
    cli = {k: v for k, v in vars(args).items() if k not in ("preset", "task") and v is not None}
    config = replace_dotted(config, overrides)
    config = replace_dotted(config, cli)
    return dataclasses.replace(config, preset=chosen) if hasattr(config, "preset") else config


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config, tuples as lists."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a config from :func:`config_to_dict` output; unknown keys are an error.

    A stage config saved for a task that extends it comes back as the task's subclass
    (:func:`stage_class`), with the task's own fields.
    """
    if isinstance(data.get("task"), str) and any(f.name == "task"
                                                 for f in dataclasses.fields(cls)):
        cls = stage_class(cls, data["task"])
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = value

    walk("", data)
    return replace_dotted(cls(), flat)


def dataclass_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """``cls(**data)`` for checkpoint metadata: missing fields take defaults, unknown fields are a
    ``ValueError`` naming them (a checkpoint from a newer version says what it carries)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {unknown}")
    return cls(**data)


def save_config(config: Any, path: str | Path) -> Path:
    """Write the config as indented JSON next to a stage's outputs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config_to_dict(config), indent=2) + "\n")
    return path
