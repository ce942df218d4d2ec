"""The Ship screen."""
