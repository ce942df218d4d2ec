"""Reusable widgets: the chart, the fast table, the item view, the word diff."""
