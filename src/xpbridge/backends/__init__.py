"""Built-in backends: NumPy and torch."""
