"""Judge: base vs fine-tuned per item, statistics, the verdict, forgetting, the postmortem."""
