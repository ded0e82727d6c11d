"""Command-line front end (thin: it imports only the API, the config and the errors)."""
