"""Tests of agentpost.domain."""
