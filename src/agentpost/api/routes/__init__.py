"""One router per area; ``app.py`` mounts each of them under every API prefix."""
