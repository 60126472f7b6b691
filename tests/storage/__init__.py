"""Tests of agentpost.storage."""
