"""``python -m credit_ledger``: the ``credit-ledger`` command, for child processes."""

from credit_ledger.cli import main

raise SystemExit(main())
