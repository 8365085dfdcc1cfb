"""Name tables between the interchange schema and each framework's own parameter names (numpy only)."""
