"""Example functions for the `callable` executor (allowed by config/development.toml)."""
