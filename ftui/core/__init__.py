"""The domain, pure Python: no Textual, no torch. One package per step of the loop, each standing only on the steps before it."""
