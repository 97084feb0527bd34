"""Module options: declared once per module, parsed from stack strings or kwargs.

``"zswap:compressor=lz4,max_pool_percent=10"`` and
``system.swapon("zswap", compressor="lz4")`` go through the same schema, so a
bad value is reported the same way: one line naming the module, the option and
what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .errors import ConfigError, InvalidSizeError
from .sizes import format_size, parse_size

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


@attrs.frozen
class Option:
    """One option of a module.

    ``kind`` is ``"size"`` (bytes, K/M/G/T suffixes), ``"int"``, ``"float"``,
    ``"bool"``, ``"str"`` or ``"choice"`` (one of ``choices``).
    """

    kind: str = attrs.field(validator=attrs.validators.in_({"size", "int", "float", "bool", "str", "choice"}))
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def _bound(self, value: float) -> str:
        return format_size(int(value)) if self.kind == "size" else f"{value:g}"

    def parse(self, module: str, name: str, value: Any) -> Any:
        where = f"{module}: option {name}={value!r}"
        if value is None:
            return None
        try:
            if self.kind == "size":
                result: Any = parse_size(value)
            elif self.kind == "int":
                if isinstance(value, bool):
                    raise ValueError
                result = int(value, 0) if isinstance(value, str) else int(value)
                if isinstance(value, float) and value != result:
                    raise ValueError
            elif self.kind == "float":
                result = float(value)
                if not math.isfinite(result):  # nan passes every < / > bound check
                    raise ValueError
            elif self.kind == "bool":
                if isinstance(value, bool):
                    result = value
                elif str(value).strip().lower() in _TRUE:
                    result = True
                elif str(value).strip().lower() in _FALSE:
                    result = False
                else:
                    raise ValueError
            elif self.kind == "choice":
                result = str(value)
                if result not in self.choices:
                    raise ConfigError(f"{where}: expected one of {', '.join(self.choices)}")
            else:
                result = str(value)
        except InvalidSizeError as exc:
            raise ConfigError(f"{module}: option {name}: {exc}") from None
        except ConfigError:
            raise
        except (ValueError, TypeError, OverflowError):
            raise ConfigError(f"{where}: expected {_describe(self.kind)}") from None
        if self.minimum is not None and result < self.minimum:
            raise ConfigError(f"{where}: must be at least {self._bound(self.minimum)}")
        if self.maximum is not None and result > self.maximum:
            raise ConfigError(f"{where}: must be at most {self._bound(self.maximum)}")
        return result


def _describe(kind: str) -> str:
    return {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "size": "a size such as 4096, 64K, 1G",
        "str": "a string",
    }.get(kind, kind)


def parse_options(module: str, schema: Mapping[str, Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults from ``schema`` overlaid with ``given``, each value parsed and checked."""
    unknown = sorted(set(given) - set(schema))
    if unknown:
        known = ", ".join(sorted(schema)) or "none"
        raise ConfigError(f"{module}: unknown option {unknown[0]!r} (options: {known})")
    result = {name: opt.default for name, opt in schema.items()}
    for name, value in given.items():
        result[name] = schema[name].parse(module, name, value)
    return result


def describe_options(schema: Mapping[str, Option]) -> Sequence[tuple[str, str, str]]:
    """(name, default, help) rows for documentation and ``swapops modules``."""
    rows = []
    for name, opt in schema.items():
        default = "" if opt.default is None else str(opt.default)
        extra = f" ({'|'.join(opt.choices)})" if opt.choices else ""
        rows.append((name, default, opt.help + extra))
    return rows
