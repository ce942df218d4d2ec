"""What every step stands on: errors, durable files, paths, events, chat turns, tokens."""
