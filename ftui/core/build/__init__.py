"""Build: corrections and anchors into training rows, splits, formats, pre-flight checks."""
