"""Storage: engine, tables, repositories, raw blobs and migrations (SQLite or PostgreSQL).

Repositories take an open connection and never commit; the service call owns the transaction.
"""
