import pandas as pd
import pytest

from common.data import competition as comp


def test_parse_label_list_is_safe_and_keeps_strings():
    assert comp.parse_label_list("['grekis', '65448']") == ["grekis", "65448"]
    assert comp.parse_label_list("[65448]") == ["65448"]
    assert comp.parse_label_list("[]") == []
    assert comp.parse_label_list("['']") == []
    assert comp.parse_label_list(float("nan")) == []
    with pytest.raises(ValueError, match="row 7"):
        comp.parse_label_list("['a', ", "(row 7)")
    with pytest.raises(ValueError):
        comp.parse_label_list("__import__('os').system('true')")


def test_read_csv_str_keeps_numeric_labels_as_strings(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("primary_label,secondary_labels,filename,rating\n"
                    "065448,['1161364'],065448/iNat1.ogg,0\n"
                    "47158son16,[],47158son16/XC2.ogg,4.5\n")
    df = comp.read_csv_str(path)
    assert list(df["primary_label"]) == ["065448", "47158son16"]
    assert df["rating"].dtype.kind == "f"


def test_read_train_metadata_parses_secondary(tmp_path):
    (tmp_path / "train.csv").write_text(
        "primary_label,secondary_labels,filename\n1161364,\"['grekis', '65448']\",a/b.ogg\n")
    df = comp.read_train_metadata(tmp_path)
    assert df.loc[0, "primary_label"] == "1161364"
    assert df.loc[0, "secondary"] == ["grekis", "65448"]


def test_soundscape_labels_deduplicated_and_merged(tmp_path):
    rows = [("S1.ogg", "00:00:00", "00:00:05", "grekis;65448"),
            ("S1.ogg", "00:00:00", "00:00:05", "grekis;65448"),
            ("S1.ogg", "00:00:00", "00:00:05", "1161364"),
            ("S1.ogg", "00:01:00", "00:01:05", "grekis")]
    pd.DataFrame(rows, columns=["filename", "start", "end", "primary_label"]).to_csv(
        tmp_path / "train_soundscapes_labels.csv", index=False)
    df = comp.read_soundscape_labels(tmp_path)
    assert len(df) == 2
    assert df.loc[0, "primary_label"] == "1161364;65448;grekis"
    assert df.loc[0, "row_id"] == "S1_5"
    assert (df.loc[1, "start_seconds"], df.loc[1, "end_seconds"]) == (60, 65)


def test_hms_and_row_ids():
    assert comp.hms_to_seconds("00:01:05") == 65
    assert comp.hms_to_seconds("35") == 35
    with pytest.raises(ValueError, match="HH:MM:SS"):
        comp.hms_to_seconds("1:xx")
    assert comp.make_row_id("dir/BC2026_Test_0001_S05_20250101_000000.ogg", 60) == \
        "BC2026_Test_0001_S05_20250101_000000_60"
    table = comp.window_table(["a.ogg", "b.ogg"])
    assert len(table) == 24
    assert list(table["row_id"][:2]) == ["a_5", "a_10"] and table["row_id"].iloc[-1] == "b_60"


def test_multi_hot_ignores_unknown_labels():
    y = comp.multi_hot([["a", "c"], ["zzz"]], ["a", "b", "c"])
    assert y.tolist() == [[1, 0, 1], [0, 0, 0]]
