"""Hosted fine-tuning on OpenAI-compatible services, and `ftui service` serving that API."""
