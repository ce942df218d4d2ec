"""Reading graded run logs: field paths, pass rules, the eval tools' own files."""
