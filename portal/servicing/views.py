"""The servicing blueprint. Its routes live in one module per area, imported at the bottom:

* ``payment_views``     customer pay page and gateway sandbox, officer repayments, statements (issue 5 item 3)
* ``credit_line_views`` the revolving credit line: apply, drawdown, bills (item 4)
* ``cob_views``         close-of-business runs, trial balance and ledger summary (items 2 and 5)
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("servicing", __name__)

from portal.servicing import cob_views, credit_line_views, payment_views  # noqa: E402, F401
