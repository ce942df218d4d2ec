"""The export, parity and serving children."""
