"""The child that serves OpenAI's fine-tuning API over HTTP."""
