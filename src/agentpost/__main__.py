"""``python -m agentpost`` runs the command line interface."""

from agentpost.cli import main

main()
