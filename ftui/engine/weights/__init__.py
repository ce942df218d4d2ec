"""Model names to weights on disk, the device and precision, memory readings."""
