"""Collections and recovery (issue 6 item 2, seed 000): the delinquency queue by DPD bucket, promises to pay,
recovery cases and actions, write-offs under maker-checker.

* ``aging.py``    pure: DPD buckets (SMA-0/1/2, NPA) and the outcome of a promise to pay.
* ``models.py``   CollectionAssignment, PromiseToPay, RecoveryCase, RecoveryAction, WriteOff.
* ``queries.py``  the queue (filters, sort, pages) and its bucket totals.
* ``services.py`` assign, promise, evaluate_promises (daily job ``jobs.delinquency.evaluate_promises_daily``),
                  initiate / complete recovery, propose / approve / reject a write-off; the rules and journal
                  entries are in its docstring.
* ``views.py``    ``/collections`` (Perm.WORK_COLLECTIONS) and ``/collections/write-offs`` (Perm.CHECK_WRITE_OFFS).
"""
from flask import Blueprint

bp = Blueprint("delinquency", __name__)
