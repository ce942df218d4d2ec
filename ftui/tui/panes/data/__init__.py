"""The Data pane and its export picker."""
