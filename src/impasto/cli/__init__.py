"""The command line (Typer + Rich), the top layer: it maps flags onto pipeline requests and the
trainers' options, and turns every ImpastoError into one line and exit code 2."""
