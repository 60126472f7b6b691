"""The relay gateway's IMAP client: a protocol client the relay services drive, like storage.

It imports nothing of ours above ``domain/`` and knows nothing of agents or the database.
"""
