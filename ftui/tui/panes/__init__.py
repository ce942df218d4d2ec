"""The workbench's panes, one package each, with their modal screens and styles."""
