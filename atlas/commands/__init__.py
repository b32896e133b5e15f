"""Sub-commands of ``python -m atlas`` (one module per command)."""
