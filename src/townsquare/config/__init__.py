"""Settings (environment + TOML file) and, later, the live community configuration cache."""
