"""Platform adapters: translate Discord and LINE events to core events and outcomes to replies."""
