"""Tables of the content area (see the package docstring). Empty until the area lands."""

from __future__ import annotations
