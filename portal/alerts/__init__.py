"""The alert engine (issue 6 item 1; seed 002): alert rules configured by a risk officer, alerts raised by the
close of business (DPD crossings) and by events (two bounces, KYC mismatch, large prepayment, promise to pay
broken), an alert queue with acknowledge / assign / resolve, and signed outgoing webhooks per rule.

``engine.py`` pure rules · ``models.py`` tables · ``services.py`` rules, raising, queue and actions ·
``webhooks.py`` the outbox, signing and delivery · ``forms.py`` / ``views.py`` pages (blueprint ``alerts``).
"""
from flask import Blueprint

bp = Blueprint("alerts", __name__)
