"""Kaggle metadata the stages write: who the user is and ``dataset-metadata.json``.

Each stage's working dir can be published as a Kaggle dataset (``kaggle datasets create -p``);
the stages write its ``dataset-metadata.json`` with :func:`write_dataset_metadata`. The slugs
come from the task (:meth:`common.tasks.base.Task.slug`). Pushing the code and the notebooks
(kernel metadata, the code dataset) is laptop tooling: :mod:`devtools.kernels`,
:mod:`devtools.code_dataset` and :mod:`devtools.push`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

PLACEHOLDER_USER = "your-kaggle-username"
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$")


def kaggle_username(explicit: str = "") -> str:
    """The Kaggle user: ``explicit``, else the kaggle CLI's own configuration, else a placeholder.

    The CLI reads ``KAGGLE_USERNAME``, else ``kaggle.json`` in ``KAGGLE_CONFIG_DIR``, else in
    ``~/.kaggle``, else (Linux, as the CLI does) in ``$XDG_CONFIG_HOME/kaggle`` or
    ``~/.config/kaggle``; only the user name is read here, never the key.
    """
    if explicit:
        return explicit
    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"]
    config_file = kaggle_config_file()
    if config_file.is_file():
        try:
            return str(json.loads(config_file.read_text())["username"])
        except (KeyError, ValueError):
            pass
    return PLACEHOLDER_USER


def kaggle_config_file() -> Path:
    """Where the kaggle CLI looks for ``kaggle.json`` (the file may not exist)."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    home_dir = Path.home() / ".kaggle"
    if home_dir.exists():
        return home_dir / "kaggle.json"
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return xdg / "kaggle" / "kaggle.json"


def check_slug(slug: str) -> str:
    """Return ``slug`` if Kaggle accepts it (3-50 chars, lowercase, digits, dashes)."""
    if not _SLUG_RE.match(slug):
        raise ValueError(
            f"{slug!r} is not a valid Kaggle slug: use 3-50 lowercase letters, digits and dashes, "
            "starting and ending with a letter or digit"
        )
    return slug


def write_dataset_metadata(folder: str | Path, slug: str, title: str, user: str = "") -> Path:
    """Write ``dataset-metadata.json`` so ``kaggle datasets create -p folder`` publishes it.

    ``title`` is cut to Kaggle's 50 characters; ``user`` defaults to :func:`kaggle_username`.
    Returns the file's path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {
        "title": title[:50],
        "id": f"{kaggle_username(user)}/{check_slug(slug)}",
        "licenses": [{"name": "CC0-1.0"}],
    }
    path = folder / "dataset-metadata.json"
    path.write_text(json.dumps(metadata, indent=2) + "\n")
    return path
