"""Image input/output and colour handling for impasto."""
