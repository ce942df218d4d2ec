"""The workbench: a Textual app over one workspace, one package per pane, keys as data."""
