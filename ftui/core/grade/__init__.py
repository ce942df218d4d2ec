"""Graders: pass/fail for one answer and why, tool calls, an LLM judge, failure signatures."""
