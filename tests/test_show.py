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


def test_config_shows_only_what_differs_and_who_set_it(capsys):
    from common.core.config import resolve_config
    from common.stages.infer.config import InferConfig

    cfg = resolve_config(InferConfig, "smoke", {"max_files": 3}, argv=["--working-dir", "/out"],
                         task="messy-mashup")
    show.show_config(cfg)
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[3:] if line.strip()}
    assert "task messy-mashup, preset smoke" in out
    assert lines["competition"].split()[-1] == "task"  # derived from the task
    assert lines["models_slug"].split()[1] == "messy-mashup-models"
    assert lines["max_files"].split()[-1] == "overrides"
    assert lines["working_dir"].split()[-1] == "overrides"
    assert lines["predict.graph"].split()[-1] == "preset"  # smoke: eager
    assert "predict.combine" not in lines  # unchanged values are not listed
    assert len(out) < 3000


def test_report_and_markdown_print_readably_in_a_script(capsys, tmp_path):
    show.show_report({"n_rows": 12, "tta": ("orig", "reverse"), "events": ["x" * 300]},
                     output_dir=tmp_path)
    show.show_markdown("**Messy mashup.** One genre per clip.")
    out = capsys.readouterr().out
    assert "n_rows" in out and "orig,reverse" in out and f"outputs in {tmp_path}" in out
    assert max(len(line) for line in out.splitlines()) < 160  # long values are cut
    assert "One genre per clip" in out and "IPython" not in out
