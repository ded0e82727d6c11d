"""The image optimisation engine (Gatys et al.): the objective, one loop, the pyramid, the
tile plan (tiles) and the tiled solver (tiled), driven by :func:`transfer.run_transfer`."""
