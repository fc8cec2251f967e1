"""``python -m services.accounts``: see :mod:`services.accounts.cli`."""

from services.accounts.cli import main

main()
