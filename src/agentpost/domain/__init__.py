"""Pure logic: addresses, MIME building and parsing, threading, folders. No I/O, no imports of
other AgentPost packages."""
