"""AgentPost: self-hosted email infrastructure for AI agents.

Importing the package has no side effects; entry points live in ``agentpost.cli``.
"""

__version__ = "0.1.0"
