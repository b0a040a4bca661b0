"""What a reader sees: figures, tables and the stage config, alike in Jupyter and in a log.

- ``plots``: ``save_figure``, the one way figures reach disk;
- ``data_plots``: nb01's figures (class counts, durations, taxa, excluded files);
- ``training_plots``: learning curves, per-class scores, the sweep leaderboard;
- ``prediction_plots``: predictions over time, clip predictions, confidence, confusion matrices;
- ``show``: ``show_table``, ``show_figures``, ``show_config``, ``show_report``,
  ``show_markdown``: the same calls read well in Jupyter and in a script's log;
- ``tracking``: experiment trackers (``csv`` by default, ``wandb`` offline or online, ``off``)
  and the readers the sweep leaderboard uses.
"""
