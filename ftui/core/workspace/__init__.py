"""The workspace: ftui.yaml read into settings, its logs, the prompts the model saw, `ftui init`."""
