"""Use cases. Each public call owns one transaction and publishes its events after commit."""
