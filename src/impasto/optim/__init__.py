"""The image optimisation engine (layer 3): one loop, the pyramid, tiling, events."""
