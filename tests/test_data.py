import numpy as np
import pandas as pd
import pytest
import torch

from common.data.loaders import AudioSource, WindowDataset, make_loader
from common.data.prep_data import load_prep
from common.data.windows import (
    SOUNDSCAPE_PREFIX,
    WindowItems,
    background_windows,
    clip_targets,
    clip_window_items,
    focal_items,
    pool_clip_probs,
    read_extra_windows,
    soundscape_eval_items,
    soundscape_items,
)

CLASSES = ["65448", "grekis", "47158son16", "compau"]


@pytest.fixture(scope="module")
def prep(prepped_input_root):
    return load_prep(prepped_input_root / "birdclef-2026-prep")


def _train_df():
    return pd.DataFrame({
        "filename": ["a.ogg", "b.ogg", "c.ogg"],
        "primary_label": ["65448", "grekis", "compau"],
        "secondary": [["grekis", "unknown"], [], ["compau", "65448"]],
        "fold": [0, 1, -1],
    })


def test_clip_targets_primary_one_secondary_soft():
    targets, mask = clip_targets(_train_df(), CLASSES, "soft", 0.3)
    np.testing.assert_allclose(targets, [[1, 0.3, 0, 0], [0, 1, 0, 0], [0.3, 0, 0, 1]])
    assert targets.dtype == np.float32 and (mask == 1).all()


def test_clip_targets_secondary_masked_out():
    targets, mask = clip_targets(_train_df(), CLASSES, "mask")
    np.testing.assert_array_equal(targets, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    # The secondary entries are dropped from the loss; a species both primary and secondary
    # stays a counted positive.
    np.testing.assert_array_equal(mask, [[1, 0, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1]])


def test_clip_targets_rejects_bad_mode():
    with pytest.raises(ValueError, match="secondary_mode"):
        clip_targets(_train_df(), CLASSES, "drop")


def test_focal_items_table():
    items = focal_items(_train_df(), CLASSES, weight=2.0)
    assert list(items.table_df["crop"]) == ["clip"] * 3
    assert list(items.table_df["fold"]) == [0, 1, -1]
    assert (items.table_df["weight"] == 2.0).all()


def test_soundscape_windows_multi_hot_with_soundscape_only_species(prep):
    items = soundscape_items(prep.soundscape_df, prep.classes, weight=0.5)
    assert len(items) == len(prep.soundscape_df)
    for row, text in enumerate(prep.soundscape_df["primary_label"]):
        labels = set(text.split(";"))
        positives = {prep.classes[j] for j in np.flatnonzero(items.targets[row])}
        assert positives == labels & set(prep.classes)
    assert (items.targets.sum(axis=1) > 1).any(), "some windows hold several species"
    only = prep.species_df.query("n_focal_clips == 0 and n_soundscape_windows > 0")
    assert len(only), "the tiny competition has soundscape-only species"
    for label in only["primary_label"]:
        assert items.targets[:, prep.classes.index(label)].sum() > 0
    assert (items.table_df["weight"] == 0.5).all()
    assert items.table_df["key"].str.startswith(SOUNDSCAPE_PREFIX).all()


def test_soundscape_eval_items_cover_every_window(prep):
    files = sorted(prep.soundscape_df["filename"].unique())
    items = soundscape_eval_items(prep.soundscape_df, prep.index_df, prep.classes, files)
    assert len(items) == 12 * len(files) and items.table_df["row_id"].is_unique
    listed = dict(zip(prep.soundscape_df["row_id"], prep.soundscape_df["primary_label"]))
    for row_id, target in zip(items.table_df["row_id"], items.targets):
        expected = set(listed.get(row_id, "").split(";")) - {""}
        assert {prep.classes[j] for j in np.flatnonzero(target)} == expected, row_id


def test_background_bank_excludes_call_windows_and_excluded_files(prep):
    bg = background_windows(prep.soundscape_df, prep.index_df)
    calls = {(SOUNDSCAPE_PREFIX + f, float(s))
             for f, s in zip(prep.soundscape_df["filename"], prep.soundscape_df["start_seconds"])}
    assert len(bg) and not calls & set(zip(bg["key"], bg["start_seconds"]))
    background_keys = set(prep.index_df.loc[prep.index_df["kind"] == "background", "key"])
    assert background_keys and background_keys <= set(bg["key"])
    assert (bg.groupby("key").size()[list(background_keys)] == 12).all()
    excluded = prep.soundscape_df["filename"].iloc[0]
    bg2 = background_windows(prep.soundscape_df, prep.index_df, exclude_files=[excluded])
    assert SOUNDSCAPE_PREFIX + excluded not in set(bg2["key"])


def test_loader_shapes_dtypes_and_reproducible_crops(prep):
    items = WindowItems.concat([focal_items(prep.train_df, prep.classes),
                                soundscape_items(prep.soundscape_df, prep.classes, 0.5)],
                               len(prep.classes))
    source = AudioSource([prep.cache_dir], None)
    bg = background_windows(prep.soundscape_df, prep.index_df)
    ds = WindowDataset(items, source, 160000, background_df=bg, seed=3)
    batch = next(iter(make_loader(ds, 6, shuffle=True, epoch=1, seed=3)))
    assert batch["wave"].shape == (6, 160000) and batch["wave"].dtype == torch.float16
    assert batch["background"].shape == (6, 160000) and batch["background"].dtype == torch.float16
    assert batch["targets"].shape == (6, len(prep.classes))
    assert batch["targets"].dtype == batch["mask"].dtype == torch.float32
    assert batch["weight"].shape == (6,) and batch["index"].dtype == torch.int64
    again = next(iter(make_loader(ds, 6, shuffle=True, epoch=1, seed=3)))
    assert torch.equal(batch["wave"], again["wave"]) and torch.equal(batch["index"],
                                                                   again["index"])
    other = next(iter(make_loader(ds, 6, shuffle=True, epoch=2, seed=3)))
    assert not torch.equal(batch["index"], other["index"])
    weights = {int(i): float(w) for i, w in zip(batch["index"], batch["weight"])}
    for i, w in weights.items():
        assert w == (0.5 if items.table_df["source"].iloc[i] == "soundscape" else 1.0)


def test_make_loader_caps_batches_and_drops_last(prep):
    items = focal_items(prep.train_df, prep.classes)
    ds = WindowDataset(items, AudioSource([prep.cache_dir], None), 16000)
    assert len(make_loader(ds, 4, shuffle=True, max_batches=2)) == 2
    sizes = [len(b["index"]) for b in make_loader(ds, 7, shuffle=False, drop_last=True)]
    assert set(sizes) == {7} and len(sizes) == len(items) // 7


def test_read_extra_windows(tmp_path):
    path = tmp_path / "pseudo.csv"
    pd.DataFrame({
        "key": ["train_soundscapes/x.ogg", "train_soundscapes/x.ogg", "a.ogg"],
        "start_seconds": [0, 5, None], "weight": [0.5, 0.5, 1.0], "fold": [1, 1, 0],
        "65448": [0.9, 0.1, 0.0], "compau": [0.0, 0.7, 1.0], "mask_compau": [1, 0, 1],
    }).to_csv(path, index=False)
    items = read_extra_windows(path, CLASSES)
    np.testing.assert_allclose(items.targets, [[0.9, 0, 0, 0], [0.1, 0, 0, 0.7], [0, 0, 0, 1]])
    np.testing.assert_array_equal(items.mask[:, 3], [1, 0, 1])
    assert list(items.table_df["crop"]) == ["window", "window", "clip"]
    assert list(items.table_df["fold"]) == [1, 1, 0]
    assert (items.table_df["source"] == "extra:pseudo").all()


# ---------------------------------------------------------------------------------------------
# Whole-clip tasks: every window of cached clips, pooled back per clip.


def _index(rows):
    return pd.DataFrame(rows, columns=["key", "kind", "length", "sample_rate", "start_seconds"])


def test_clip_window_items_cut_each_clip_like_a_test_file():
    index = _index([("m/a.wav", "clip", 30 * 22050, 22050, 0.0),
                    ("m/b.wav", "clip", int(10.7 * 22050), 22050, 2.0),  # 0.7-s tail: a window
                    ("m/c.wav", "clip", int(5.2 * 22050), 22050, 0.0)])  # 0.2-s tail: none
    clips = pd.DataFrame({"filename": ["m/a.wav", "m/b.wav", "m/c.wav"],
                          "primary_label": ["jazz", "rock", "jazz"], "fold": [1, 1, 0]})
    items = clip_window_items(clips, index, ["jazz", "rock"])
    table = items.table_df
    assert table.groupby("key", sort=False).size().tolist() == [6, 3, 1]
    assert (table["crop"] == "window").all()
    b = table[table["key"] == "m/b.wav"]
    assert b["start_seconds"].tolist() == [2.0, 7.0, 12.0]  # source time: the cache's offset
    assert b["row_id"].tolist() == ["m/b.wav_5", "m/b.wav_10", "m/b.wav_15"]
    assert table["row_id"].is_unique
    np.testing.assert_array_equal(items.targets[table["key"] == "m/b.wav"], [[0, 1]] * 3)
    assert table["fold"].tolist() == [1] * 9 + [0]
    with pytest.raises(KeyError, match="not in the prep cache"):
        clip_window_items(clips.assign(filename=["m/x.wav", "m/a.wav", "m/c.wav"]), index,
                          ["jazz", "rock"])


def test_pool_clip_probs_means_windows_per_clip_in_order():
    keys, pooled = pool_clip_probs(["b", "a", "b", "a", "c"],
                                   np.array([[1, 0], [0.2, 0.8], [0, 1], [0.4, 0.6], [0.5, 0.5]]))
    assert keys == ["b", "a", "c"]
    np.testing.assert_allclose(pooled, [[0.5, 0.5], [0.3, 0.7], [0.5, 0.5]])
    with pytest.raises(ValueError, match="keys"):
        pool_clip_probs(["a"], np.zeros((2, 2)))


def test_background_windows_keep_a_short_noise_clip():
    index = _index([("noise/rain_0.wav", "background", 5 * 22050, 22050, 0.0),
                    ("noise/wind_1.wav", "background", int(4.5 * 22050), 22050, 0.0),
                    ("m/a.wav", "clip", 30 * 22050, 22050, 0.0)])
    empty = pd.DataFrame(columns=["filename", "start_seconds"])
    bg = background_windows(empty, index)
    assert bg.values.tolist() == [["noise/rain_0.wav", 0.0], ["noise/wind_1.wav", 0.0]]
