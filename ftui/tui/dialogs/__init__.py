"""Modal questions and views shared by every pane."""
