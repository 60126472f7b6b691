"""The REST API (FastAPI): routes, request and answer shapes, error mapping."""

from agentpost.api.app import create_app

__all__ = ["create_app"]
