"""The Train pane, its run form and the run view it draws."""
