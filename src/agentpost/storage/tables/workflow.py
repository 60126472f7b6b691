"""Tables of the workflow area (see the package docstring). Empty until the area lands."""

from __future__ import annotations
