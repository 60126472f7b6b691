"""End-to-end tests: ``agentpost`` run as real processes."""
