"""Tables of the permissions area (see the package docstring). Empty until the area lands."""

from __future__ import annotations
