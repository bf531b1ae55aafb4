"""``python -m townsquare`` is the ``townsquare`` command."""

from townsquare.cli import main

main()
