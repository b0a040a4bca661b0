"""The competition's tables and the training data built from them.

- ``competition``: reading the competition files with string labels everywhere;
- ``folds``: cross-validation folds (multi-label stratified, soundscapes by file, rare species);
- ``prep_data``: nb01's output as one value (``PrepData``, ``load_prep``);
- ``windows``: window tables (focal clips, soundscape windows, whole clips, extra windows);
- ``loaders``: the audio source over the caches, the torch ``Dataset`` and its loaders.
"""
