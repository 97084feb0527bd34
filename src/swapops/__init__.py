"""swapops: Linux swap designs as stackable, swapon-able plugins."""

from .errors import *  # noqa: F403
from .folio import Folio
from .sizes import PAGE_SIZE, parse_size

__all__ = ["Folio", "PAGE_SIZE", "parse_size"]
