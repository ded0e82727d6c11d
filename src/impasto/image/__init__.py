"""Pixels only, no networks (the bottom layer): reading (io), writing with metadata (save),
colour, resizing, masks, faces, contact sheets."""
