"""Tests for common.core.runtime: the stage log appears with its first record, not before."""

import logging

from common.core.runtime import setup_logging


def test_log_file_and_folder_appear_with_the_first_record(tmp_path):
    log_file = tmp_path / "work" / "nb01.log"
    try:
        setup_logging(log_file)
        assert not log_file.parent.exists()  # a stage stopped by bad input leaves nothing
        logging.getLogger("common.test").info("first line")
        assert "first line" in log_file.read_text()
        setup_logging(log_file)  # a re-run cell replaces the handlers instead of stacking
        logging.getLogger("common.test").info("second line")
        assert log_file.read_text().count("second line") == 1
    finally:
        setup_logging(None)
        for handler in logging.getLogger().handlers:
            handler.close()
