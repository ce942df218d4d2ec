"""Curate and correct: clusters (labeled or discovered), edits to them, corrections, drafts."""
