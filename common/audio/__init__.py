"""Audio in and out of the models' reach: decoding, the cache, crops and augmentation.

- ``io``: decoding any file to mono float32 at a rate, durations, activity per frame;
- ``cache``: the float16 shard cache nb01 writes and every later stage memory-maps;
- ``crops``: padding, random, start and energy (loudest window) crops of a clip;
- ``wave_ops``: batched waveform primitives (roll, coloured noise, SNR mixing, gain, mixup);
- ``soundscape_sim``: the in-batch soundscape simulator (calls mixed over real background);
- ``augment``: the augmentation configs and the ``WaveAugment`` / ``SpecAugment`` modules.
"""
