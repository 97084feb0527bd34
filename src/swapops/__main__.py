"""``python3 -m swapops``: the CLI without relying on the ``swapops`` script being on PATH
(a pip --user install or a pyenv without a rehash puts it where the shell does not look)."""

from .cli import main

main()
