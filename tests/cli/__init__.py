"""CLI tests: the ``agentpost`` commands run in-process."""
