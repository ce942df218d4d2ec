"""The Correct pane and its drafting, template and tool-pick screens."""
