"""Child processes only: training, evaluation, drafting, export, serving. The UI and the CLI reach them through a process and its folder, never by import."""
