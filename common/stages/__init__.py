"""The four notebooks' stages, one sub-package each; a stage calls its task, never branches on it.

- ``prep``: nb01, clean, fold and cache the audio;
- ``train``: nb02, K-fold training;
- ``pseudo``: nb03, pseudo labels from a teacher ensemble and noisy students;
- ``infer``: nb04, the offline CPU ensemble with TTA that writes ``submission.csv``;
- ``teacher_table``: a pretrained teacher's scores of every window, cached as a table
  (nb02, nb03 and nb04's teacher switches read it);
- ``configs``: each stage's config class by its key, for tools that treat stages alike;
- ``start``: what every notebook does first (config, log, the config and task notes shown);
- ``restore``: a stage's previous output, attached as an input, copied back into its working dir
  so that a new Kaggle session continues it.
"""
