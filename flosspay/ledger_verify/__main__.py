"""``python -m flosspay.ledger_verify``."""

import sys

from flosspay.ledger_verify.cli import main

sys.exit(main())
