"""The files around the audio: the competition CSVs, the hidden answer key and the manifest.

Column lists are the real competition's; labels are written as strings and every CSV is built
from the plan alone, so the same ``(size, seed)`` gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from devtools.synthetic.birdclef.config import SAMPLE_RATE, SIZES, WINDOW_SECONDS
from devtools.synthetic.birdclef.plan import Plan

TAXONOMY_COLUMNS = [
    "primary_label",
    "inat_taxon_id",
    "scientific_name",
    "common_name",
    "class_name",
]
TRAIN_COLUMNS = [
    "primary_label",
    "secondary_labels",
    "type",
    "latitude",
    "longitude",
    "scientific_name",
    "common_name",
    "class_name",
    "inat_taxon_id",
    "author",
    "license",
    "rating",
    "url",
    "filename",
    "collection",
]
SOUNDSCAPE_LABEL_COLUMNS = ["filename", "start", "end", "primary_label"]


@dataclass(frozen=True)
class SyntheticCompetition:
    """Where ``generate_competition`` wrote things."""

    root: Path  # the folder passed in
    competition_dir: Path  # root / "birdclef-2026", laid out like Kaggle's download
    answer_key_path: Path  # root / "answer_key" / "solution.csv", outside the competition folder

    @property
    def manifest_path(self) -> Path:
        """``answer_key/manifest.json``: planted corrupt files, soundscape-only species, pairs."""
        return self.answer_key_path.parent / "manifest.json"


def _taxonomy_df(plan: Plan) -> pd.DataFrame:
    rows = [
        (s.label, str(s.inat_taxon_id), s.scientific_name, s.common_name, s.class_name)
        for s in plan.species
    ]
    return pd.DataFrame(rows, columns=TAXONOMY_COLUMNS)


def _train_df(plan: Plan) -> pd.DataFrame:
    rows = []
    for clip in plan.clips:
        sp = plan.species[clip.species_index]
        secondary = [plan.species[i].label for i in clip.secondary]
        rows.append(
            dict(
                primary_label=sp.label,
                secondary_labels=str(secondary),
                type=clip.metadata["type"],
                latitude=clip.metadata["latitude"],
                longitude=clip.metadata["longitude"],
                scientific_name=sp.scientific_name,
                common_name=sp.common_name,
                class_name=sp.class_name,
                inat_taxon_id=str(sp.inat_taxon_id),
                author=clip.metadata["author"],
                license=clip.metadata["license"],
                rating=clip.metadata["rating"],
                url=clip.metadata["url"],
                filename=clip.filename,
                collection=clip.collection,
            )
        )
    return pd.DataFrame(rows, columns=TRAIN_COLUMNS)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _soundscape_labels_df(plan: Plan) -> pd.DataFrame:
    """Labelled windows of labelled train soundscapes; the real file lists every row twice."""
    rows = []
    for scape in plan.soundscapes:
        if not scape.labelled:
            continue
        for w, labels in enumerate(scape.window_labels):
            if labels:  # windows with nothing heard are absent, as in the real file
                start, end = w * WINDOW_SECONDS, (w + 1) * WINDOW_SECONDS
                rows.append((f"{scape.stem}.ogg", _clock(start), _clock(end), ";".join(labels)))
    labels_df = pd.DataFrame(rows, columns=SOUNDSCAPE_LABEL_COLUMNS)
    return pd.concat([labels_df, labels_df], ignore_index=True)


def _window_table_df(plan: Plan, stems: Sequence[str], fill: float | None) -> pd.DataFrame:
    """row_id ``<stem>_<end s>`` per window; species columns hold ``fill`` or the truth (0/1)."""
    labels = [s.label for s in plan.species]
    by_stem = {s.stem: s for s in plan.soundscapes}
    row_ids, values = [], []
    for stem in stems:
        for w, window in enumerate(by_stem[stem].window_labels):
            row_ids.append(f"{stem}_{(w + 1) * WINDOW_SECONDS}")
            values.append(
                [fill] * len(labels)
                if fill is not None
                else [int(label in window) for label in labels]
            )
    table_df = pd.DataFrame(values, columns=labels)
    table_df.insert(0, "row_id", row_ids)
    return table_df


def _manifest(plan: Plan, size_name: str, seed: int, empty_test: bool) -> dict:
    return {
        "size": size_name,
        "seed": seed,
        # what the size meant when this folder was made: devtools.synthetic.current compares it
        "size_parameters": dataclasses.asdict(SIZES[size_name]),
        "empty_test": empty_test,
        "sample_rate": SAMPLE_RATE,
        "corrupt_files": {
            c.corruption: c.filename for c in plan.clips if c.corruption not in (None, "silent")
        },
        "silent_files": [c.filename for c in plan.clips if c.corruption == "silent"],
        "soundscape_only_species": [s.label for s in plan.species if s.soundscape_only],
        "confusable_pairs": [list(p) for p in plan.confusable_pairs],
        "labelled_soundscapes": [f"{s.stem}.ogg" for s in plan.soundscapes if s.labelled],
        "voices": {s.label: f"{s.voice.family}/{s.voice.style}" for s in plan.species},
    }


_TEST_README = (
    "The hidden test set (one-minute soundscapes named "
    "BC2026_Test_<id>_S<site>_<yyyymmdd>_<hhmmss>.ogg) is placed in this folder when a "
    "submission notebook is scored.\n"
)
_ANSWER_KEY_README = (
    "solution.csv: truth for every 5-s window of every synthetic test soundscape (row_id = "
    "<file stem>_<end second>, one 0/1 column per species), kept outside birdclef-2026/ like "
    "Kaggle's hidden labels; manifest.json lists the planted corrupt files, soundscape-only "
    "species and confusable pairs.\n"
)


def write_tables(
    plan: Plan, competition: SyntheticCompetition, size_name: str, seed: int, empty_test: bool
) -> None:
    """Write every file but the audio: CSVs, answer key, READMEs and ``manifest.json``.

    ``competition``'s folders must exist. With ``empty_test``, ``test_soundscapes/readme.txt``
    stands in for the test audio, like Kaggle's public download.
    """
    competition_dir = competition.competition_dir
    if empty_test:
        (competition_dir / "test_soundscapes" / "readme.txt").write_text(_TEST_README)

    test_stems = sorted(s.stem for s in plan.soundscapes if s.split == "test")
    _taxonomy_df(plan).to_csv(competition_dir / "taxonomy.csv", index=False)
    _train_df(plan).to_csv(competition_dir / "train.csv", index=False)
    _soundscape_labels_df(plan).to_csv(
        competition_dir / "train_soundscapes_labels.csv", index=False
    )
    sample_df = _window_table_df(plan, test_stems[:3], fill=1.0 / len(plan.species))
    sample_df.to_csv(competition_dir / "sample_submission.csv", index=False)
    _window_table_df(plan, test_stems, fill=None).to_csv(competition.answer_key_path, index=False)
    (competition.answer_key_path.parent / "README.txt").write_text(_ANSWER_KEY_README)
    manifest = _manifest(plan, size_name, seed, empty_test)
    competition.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
