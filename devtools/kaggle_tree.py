"""A local ``/kaggle/input``: what Kaggle mounts for one notebook, read from its kernel metadata.

Kaggle mounts a notebook's attachments under ``/kaggle/input`` by kind and owner:

- ``competition_sources`` at ``competitions/<competition>``,
- ``dataset_sources`` ``<owner>/<slug>`` at ``datasets/<owner>/<slug>``,
- ``kernel_sources`` ``<owner>/<slug>`` (the output of that notebook's last run) at
  ``notebooks/<owner>/<slug>``,

and a notebook starts in an empty ``/kaggle/working``. :func:`mount_inputs` builds that tree
from a ``kernel-metadata.json`` (symlinks to local folders), so a rehearsal attaches exactly what
the push attaches. :func:`unpack_dataset` turns a dataset folder into what Kaggle serves after
``kaggle datasets create -p DIR -r zip``: the CLI uploads top-level files as they are and each
top-level folder as ``<folder>.zip``, skips its metadata files, and Kaggle unpacks each archive
into a folder of the archive's name.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

# Files the kaggle CLI never uploads from a dataset folder (its own metadata), and the folder
# patterns it ignores by default (kaggle_api_extended: DATASET_METADATA_FILE and friends,
# DEFAULT_IGNORE_PATTERNS).
CLI_METADATA_FILES = frozenset({"dataset-metadata.json", "datapackage.json",
                                "kernel-metadata.json", "model-metadata.json",
                                "model-instance-metadata.json"})
CLI_IGNORED_FOLDERS = frozenset({".git", ".cache", ".huggingface"})


def unpack_dataset(folder: str | Path, dest: str | Path) -> Path:
    """Write into ``dest`` the dataset Kaggle serves for ``folder`` uploaded with ``-r zip``.

    Each top-level folder goes through a real zip archive (``shutil.make_archive``, as the CLI
    does) and is extracted into ``dest/<folder name>/``, so what a zip round trip does not keep
    (file modes, symlinks as links) is lost here as on Kaggle. Top-level files are
    copied; the CLI's metadata files are left out. ``dest`` must not exist yet.
    """
    folder, dest = Path(folder), Path(dest)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {folder} does not exist: build it first")
    if dest.exists():
        raise FileExistsError(f"{dest} exists: unpack into a new folder")
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        for entry in sorted(folder.iterdir()):
            if entry.name in CLI_METADATA_FILES or entry.name in CLI_IGNORED_FOLDERS:
                continue
            if entry.is_dir():
                archive = shutil.make_archive(str(Path(scratch) / entry.name), "zip", entry)
                with zipfile.ZipFile(archive) as zipped:
                    zipped.extractall(dest / entry.name)
            elif entry.is_file():
                shutil.copyfile(entry, dest / entry.name)
    return dest


def _refs(metadata: dict[str, Any], key: str) -> list[str]:
    refs = metadata.get(key) or []
    for ref in refs:
        if key != "competition_sources" and ref.count("/") != 1:
            raise ValueError(f"{key} entry {ref!r} is not <owner>/<slug>")
    return list(refs)


def mount_inputs(metadata: dict[str, Any], input_root: str | Path,
                 competitions: dict[str, Path], datasets: dict[str, Path],
                 notebooks: dict[str, Path]) -> dict[str, Path]:
    """Lay out ``input_root`` as Kaggle mounts the attachments of ``metadata``.

    Args:
        metadata: a ``kernel-metadata.json`` as a dict (``competition_sources``,
            ``dataset_sources``, ``kernel_sources``).
        input_root: the folder standing for ``/kaggle/input``; created, must be empty.
        competitions: competition name -> its local folder.
        datasets: ``<owner>/<slug>`` -> the unpacked dataset folder.
        notebooks: ``<owner>/<slug>`` -> the output folder of that notebook's run.

    Returns: mount path (relative to ``input_root``, as text) -> the local folder it links to.
    Raises ``KeyError`` naming an attachment with no local folder (a stage attached before it
    ran, say).
    """
    root = Path(input_root)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty: each notebook gets a fresh input tree")
    plan = [("competitions", ref, competitions) for ref in _refs(metadata,
                                                                  "competition_sources")]
    plan += [("datasets", ref, datasets) for ref in _refs(metadata, "dataset_sources")]
    plan += [("notebooks", ref, notebooks) for ref in _refs(metadata, "kernel_sources")]
    mounted: dict[str, Path] = {}
    for kind, ref, sources in plan:
        if ref not in sources:
            raise KeyError(f"{metadata.get('id', 'the notebook')} attaches {kind[:-1]} {ref!r} "
                           f"but no local folder was given for it (have: {sorted(sources)})")
        target = Path(sources[ref]).resolve()
        if not target.is_dir():
            raise FileNotFoundError(f"{kind[:-1]} {ref!r}: {target} is not a folder")
        link = root / kind / ref
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target, target_is_directory=True)
        mounted[f"{kind}/{ref}"] = target
    return mounted


def folder_bytes(folder: str | Path) -> int:
    """Total size of the regular files under ``folder``, bytes (symlinks are not followed: a
    notebook's output is what it wrote, not what it links to)."""
    return sum(p.lstat().st_size for p in Path(folder).rglob("*")
               if p.is_file() and not p.is_symlink())
