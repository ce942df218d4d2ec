"""The Clusters pane."""
