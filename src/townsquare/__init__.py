"""Townsquare: a self-hostable community engine for Discord and LINE."""

__version__ = "0.1.0"
