"""The taxonomy: species with names, labels, voices, confusable pairs and abundance.

Labels follow the real data: eBird codes for birds, iNat ids for other taxa, ``<id>son<nn>``
for insect sonotypes. About 10 % of species are soundscape-only (sonotypes and a frog).

Some species carry real Pantanal scientific and common names (:func:`with_real_names`), so
that a pretrained teacher's label mapping (:mod:`common.teachers.mapping`) finds them and the
teacher switches run end to end on the demo. Only the names are real: the voices are
synthetic, so BirdNET or Perch will not recognise the calls. This checks plumbing, not gain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from devtools.synthetic.birdclef.config import CLASS_NAMES, Stream, SyntheticSize, stream_rng
from devtools.synthetic.birdclef.voices import VOICE_DRAWERS, Voice, confusable_twin


@dataclass(frozen=True)
class Species:
    """One taxonomy row and how the species behaves in the fake data."""

    label: str  # primary_label: eBird code, iNat id or sonotype, always a string
    inat_taxon_id: int
    scientific_name: str
    common_name: str
    class_name: str
    voice: Voice
    soundscape_only: bool  # no focal clip; heard only in soundscapes
    focal_rank: float  # lower = more focal clips (Zipf over the ranks)
    soundscape_weight: float  # relative chance of being heard in a soundscape


_SYLLABLES = tuple(
    "ka ri to na ve lu mo pa si qui ra te co bi da gu ja xe lo mi tur sa pe nho".split()
)
_ADJECTIVES = tuple(
    (
        "Great Lesser Rufous Pale Chaco Golden Spotted Striped Dusky Ashy Scarlet Olive Tawny "
        "Barred Plain Crested Masked Buff Slaty Ochre Velvet Marbled Whistling Southern "
        "Northern Little Giant White Black Yellow"
    ).split()
)
_GROUP_NOUNS = {
    "Amphibia": ("Tree Frog", "Leaf Frog", "Toad", "Grass Frog", "Swimming Frog"),
    "Insecta": ("Katydid", "Cricket", "Cicada"),
    "Mammalia": ("Howler", "Deer", "Capuchin", "Fox", "Peccary"),
    "Reptilia": ("Caiman", "Gecko"),
}
_SOUNDSCAPE_CLASS_WEIGHT = {
    "Aves": 1.0,
    "Amphibia": 3.0,
    "Insecta": 3.0,
    "Mammalia": 0.4,
    "Reptilia": 0.4,
}


def _word(rng: np.random.Generator, n_syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES, n_syllables)).capitalize()


def _class_counts(size: SyntheticSize) -> tuple[dict[str, int], int, int]:
    """Species per class, number of insect sonotypes, number of soundscape-only frogs."""
    if size.n_species < 8:
        raise ValueError(f"n_species must be at least 8, got {size.n_species}")
    n_only = max(1, round(size.soundscape_only_fraction * size.n_species))
    n_only_frogs = n_only // 3  # real: 25 sonotypes and 3 frogs/others have no focal clips
    n_sonotypes = n_only - n_only_frogs
    counts = {
        "Amphibia": max(1, round(0.14 * size.n_species)) + n_only_frogs,
        "Insecta": 1 + n_sonotypes,
        "Mammalia": max(1, round(0.035 * size.n_species)),
        "Reptilia": 1,
    }
    counts["Aves"] = size.n_species - sum(counts.values())
    return counts, n_sonotypes, n_only_frogs


def plan_species(
    size: SyntheticSize, seed: int
) -> tuple[tuple[Species, ...], tuple[tuple[str, str], ...]]:
    """Taxonomy with voices; returns (species sorted by label, confusable label pairs)."""
    rng = stream_rng(seed, Stream.TAXONOMY)
    counts, n_sonotypes, n_only_frogs = _class_counts(size)
    # Unique iNat ids; the extra one is the insect family shared by all sonotypes.
    inat_ids = [int(i) for i in rng.choice(1_699_000, size.n_species + 1, replace=False) + 1000]
    sonotype_family = inat_ids.pop()
    sonotype_numbers = sorted(int(k) for k in rng.choice(np.arange(1, 26), n_sonotypes, False))
    records: list[dict] = []
    used_labels: set[str] = set()
    for class_name in CLASS_NAMES:
        for k in range(counts[class_name]):
            genus, epithet = _word(rng, 2) + "us", _word(rng, 2).lower() + "i"
            inat_id = inat_ids.pop()
            record = dict(
                class_name=class_name,
                inat_taxon_id=inat_id,
                soundscape_only=False,
                voice=VOICE_DRAWERS[class_name](rng),
            )
            if class_name == "Aves":
                noun = _word(rng, int(rng.integers(2, 4)))
                adjective = str(rng.choice(_ADJECTIVES))
                code = (adjective[:3] + noun[:3]).lower()
                # eBird adds a digit when a code is taken, and often anyway.
                if code in used_labels or rng.random() < 0.25:
                    code += str(next(d for d in range(1, 10) if code + str(d) not in used_labels))
                record.update(label=code, common_name=f"{adjective} {noun}")
            elif class_name == "Insecta" and k >= 1:
                number = sonotype_numbers[k - 1]
                record.update(
                    label=f"{sonotype_family}son{number:02d}",
                    soundscape_only=True,
                    inat_taxon_id=sonotype_family,
                    common_name=f"Insect sonotype {number:02d}",
                )
                genus, epithet = "Sonotypidae", f"son{number:02d}"
            else:
                noun = str(rng.choice(_GROUP_NOUNS[class_name]))
                record.update(label=str(inat_id), common_name=f"{rng.choice(_ADJECTIVES)} {noun}")
                if class_name == "Amphibia" and k >= counts["Amphibia"] - n_only_frogs:
                    record["soundscape_only"] = True
            record["scientific_name"] = f"{genus} {epithet}"
            used_labels.add(record["label"])
            records.append(record)

    # Confusable pairs: same genus, near-identical voice. Birds first, then frogs.
    pairs: list[tuple[str, str]] = []
    for class_name in ("Aves", "Amphibia", "Aves", "Aves", "Amphibia", "Aves"):
        if len(pairs) == size.n_confusable_pairs:
            break
        paired = {label for pair in pairs for label in pair}
        free = [
            r
            for r in records
            if r["class_name"] == class_name
            and not r["soundscape_only"]
            and r["label"] not in paired
        ]
        if len(free) >= 2:
            first, second = free[0], free[1]
            second["voice"] = confusable_twin(first["voice"], rng)
            second["scientific_name"] = (
                first["scientific_name"].split()[0] + " " + second["scientific_name"].split()[1]
            )
            pairs.append((first["label"], second["label"]))

    # Focal abundance: birds are common, other taxa form the tail, the reptile comes last.
    tiers = {"Aves": 0.0, "Amphibia": 1.0, "Insecta": 1.0, "Mammalia": 1.0, "Reptilia": 2.0}
    species = [
        Species(
            label=r["label"],
            inat_taxon_id=r["inat_taxon_id"],
            scientific_name=r["scientific_name"],
            common_name=r["common_name"],
            class_name=r["class_name"],
            voice=r["voice"],
            soundscape_only=r["soundscape_only"],
            focal_rank=tiers[r["class_name"]] + rng.uniform(0.0, 0.9),
            soundscape_weight=_SOUNDSCAPE_CLASS_WEIGHT[r["class_name"]] * rng.uniform(0.3, 1.7),
        )
        for r in records
    ]
    species = with_real_names(species, pairs)
    species.sort(key=lambda s: s.label)
    return tuple(species), tuple(pairs)


# Real Pantanal species (BirdNET v2.4 knows every bird here, none of the others). Confusable
# pairs get real congeners; the rest are taken in order. Labels stay the generator's.
_REAL_PAIRS = {
    "Aves": (("Ara chloropterus", "Red-and-green Macaw"),
             ("Ara ararauna", "Blue-and-yellow Macaw"),
             ("Columbina talpacoti", "Ruddy Ground Dove"),
             ("Columbina picui", "Picui Ground Dove")),
    "Amphibia": (("Boana raniceps", "Chaco Tree Frog"),
                 ("Boana punctata", "Polka-dot Tree Frog")),
}
_REAL_SPECIES = {
    "Aves": (("Ramphastos toco", "Toco Toucan"), ("Pitangus sulphuratus", "Great Kiskadee"),
             ("Jabiru mycteria", "Jabiru"), ("Aramus guarauna", "Limpkin"),
             ("Furnarius rufus", "Rufous Hornero"), ("Chauna torquata", "Southern Screamer"),
             ("Crypturellus undulatus", "Undulated Tinamou"),
             ("Cyanocorax cyanomelas", "Purplish Jay"), ("Ortalis canicollis", "Chaco Chachalaca"),
             ("Anodorhynchus hyacinthinus", "Hyacinth Macaw")),
    "Amphibia": (("Leptodactylus fuscus", "Whistling Grass Frog"),),
    "Mammalia": (("Alouatta caraya", "Black-and-gold Howler Monkey"),),
    "Reptilia": (("Caiman yacare", "Yacare Caiman"),),
}


def with_real_names(species: list[Species], pairs: list[tuple[str, str]]) -> list[Species]:
    """``species`` with real scientific and common names on some birds, a frog or two, a
    mammal and the reptile (see module doc); labels, voices and every random draw unchanged,
    so the audio of a seed is the same with or without them."""
    by_label = {s.label: i for i, s in enumerate(species)}
    out = list(species)
    named: set[int] = set()
    pair_names = {k: list(v) for k, v in _REAL_PAIRS.items()}
    for first, second in pairs:
        i, j = by_label[first], by_label[second]
        names = pair_names.get(out[i].class_name, [])
        if len(names) >= 2:
            for k, (scientific, common) in zip((i, j), (names.pop(0), names.pop(0))):
                out[k] = replace(out[k], scientific_name=scientific, common_name=common)
                named.add(k)
    free = {k: list(v) for k, v in _REAL_SPECIES.items()}
    for k, sp in enumerate(out):
        names = free.get(sp.class_name)
        if k in named or sp.soundscape_only or not names:
            continue
        scientific, common = names.pop(0)
        out[k] = replace(sp, scientific_name=scientific, common_name=common)
    return out
