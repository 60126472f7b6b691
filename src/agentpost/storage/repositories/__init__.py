"""Repositories: queries and inserts on an open connection. They flush; they never commit."""
