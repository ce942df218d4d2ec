"""The headless CLI: one module per step of the loop, each registering its subcommands."""
