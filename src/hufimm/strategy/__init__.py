"""Strategies decide and write intents; they never call an exchange."""
