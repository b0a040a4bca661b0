import pandas as pd

from common.report import show


def test_script_mode_prints_text_and_paths(capsys, tmp_path):
    show.show_table(pd.DataFrame({"species": ["65448", "grekis"], "auc": [0.9, 0.8]}),
                    title="per class")
    show.show_figures([tmp_path / "a.png"])
    out = capsys.readouterr().out
    assert "per class" in out and "65448" in out and "grekis" in out
    assert f"figure: {tmp_path / 'a.png'}" in out
    assert "Image object" not in out


def test_long_tables_are_truncated(capsys):
    show.show_table(pd.DataFrame({"x": range(100)}), max_rows=10)
    out = capsys.readouterr().out
    assert len(out.splitlines()) < 20


def test_empty_tables_say_so(capsys):
    show.show_table(pd.DataFrame(columns=["primary_label", "n_clips"]), title="rare classes")
    out = capsys.readouterr().out
    assert "rare classes" in out and "no rows" in out and "primary_label, n_clips" in out
    assert "Empty DataFrame" not in out
