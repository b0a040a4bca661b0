"""Tests for common.stages.start: one call resolves a notebook's config, starts its log and shows
the config and the task's notes."""

import logging

from common.core.runtime import setup_logging
from common.stages.infer.config import InferConfig
from common.stages.start import start_stage
from common.tasks import get_task


def test_start_stage_resolves_logs_and_shows(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["nb04_inference.py"])  # as a script with no flags
    work = tmp_path / "work"
    try:
        cfg = start_stage(InferConfig, "nb04", "smoke", "messy-mashup", str(tmp_path / "in"),
                          str(work), {"max_files": 3}, description="nb04")
        assert (cfg.task, cfg.preset, cfg.max_files, cfg.working_dir) == (
            "messy-mashup", "smoke", 3, str(work))
        assert not work.exists()  # nothing written before the stage logs
        logging.getLogger("common.test").info("first record")
        assert "first record" in (work / "nb04.log").read_text()
    finally:
        setup_logging(None)
        for handler in logging.getLogger().handlers:
            handler.close()
    out = capsys.readouterr().out
    assert "task messy-mashup, preset smoke" in out and "max_files" in out
    assert get_task("messy-mashup").notes("nb04").splitlines()[0] in out
