"""The evaluation and forgetting children."""
