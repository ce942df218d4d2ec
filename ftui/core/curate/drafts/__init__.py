"""Drafted corrections: a teacher writes them, the grader checks them, a person accepts them."""
