"""Train: run folders, the detached training child, its event fold, probes, launch."""
