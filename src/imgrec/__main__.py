"""``python -m imgrec`` is the ``imgrec`` command (the search starts its workers this way)."""

from imgrec.cli import main

main()
