"""Tests of agentpost.services."""
