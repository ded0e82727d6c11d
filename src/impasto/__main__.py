"""``python -m impasto`` runs the command line."""

from impasto.cli.main import entry

entry()
