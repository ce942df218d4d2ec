"""The drafting and embedding children."""
