"""The alert engine's pure rules: event matching, DPD crossings, status moves, the retry schedule, rule checks
and the webhook signature (no database)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from portal.alerts import engine
from portal.alerts.webhooks import signature, verify_signature

ROLES = ("collections", "risk_officer", "admin")


@pytest.mark.parametrize(("kind", "days", "amount", "detail", "expected"), [
    ("large_prepayment", None, Decimal("100000.00"), {"amount": "100000.00"}, True),   # at the threshold
    ("large_prepayment", None, Decimal("100000.00"), {"amount": Decimal("99999.99")}, False),
    ("large_prepayment", None, Decimal("100000.00"), {}, False),                       # no figure: no match
    ("large_prepayment", None, Decimal("100000.00"), {"amount": "lots"}, False),
    ("dpd_crossed", 30, None, {"dpd": 30}, True),
    ("dpd_crossed", 30, None, {"dpd": 29}, False),
    ("two_bounces", None, None, None, True),
    ("kyc_mismatch", None, None, {"document_id": 3}, True),
    ("promise_to_pay_broken", None, None, {}, True),
])
def test_rule_matches(kind, days, amount, detail, expected):
    assert engine.rule_matches(kind, threshold_days=days, threshold_amount=amount, detail=detail) is expected


def test_a_loan_aging_0_to_95_starts_one_crossing_per_threshold():
    """The mirror of the SQL: day by day, a crossing starts once per threshold while it stays open."""
    open_crossing = dict.fromkeys((1, 30, 60, 90), False)
    raised = []
    for dpd in range(0, 96):
        for threshold in open_crossing:
            if engine.dpd_crossing_ends(dpd, threshold):
                open_crossing[threshold] = False
            if engine.dpd_crossing_starts(dpd, threshold, open_crossing=open_crossing[threshold]):
                open_crossing[threshold] = True
                raised.append((threshold, dpd))
    assert raised == [(1, 1), (30, 30), (60, 60), (90, 90)]


def test_a_cure_ends_the_crossing_and_a_new_climb_starts_another():
    history = [0, 1, 2, 31, 0, 0, 1, 30]  # paid everything at DPD 31, fell behind again
    opened, raised = {1: False, 30: False}, []
    for dpd in history:
        for threshold in opened:
            if engine.dpd_crossing_ends(dpd, threshold):
                opened[threshold] = False
            elif engine.dpd_crossing_starts(dpd, threshold, open_crossing=opened[threshold]):
                opened[threshold] = True
                raised.append((threshold, dpd))
    assert raised == [(1, 1), (30, 31), (1, 1), (30, 30)]


@pytest.mark.parametrize(("old", "new", "ok"), [
    ("open", "acknowledged", True), ("open", "resolved", True), ("acknowledged", "resolved", True),
    ("acknowledged", "open", False), ("resolved", "open", False), ("resolved", "acknowledged", False),
    ("open", "open", False),
])
def test_status_moves(old, new, ok):
    if ok:
        engine.check_transition(old, new)
    else:
        with pytest.raises(ValueError, match="cannot become"):
            engine.check_transition(old, new)


def test_retry_schedule_is_exponential_and_stops_after_five_attempts():
    delays = [engine.retry_delay(n) for n in range(1, 6)]
    assert delays == [30, 120, 480, 1920, None]
    assert all(b == 4 * a for a, b in zip(delays[:3], delays[1:4], strict=True))
    assert engine.retry_delay(1, 1) is None                       # a test delivery: one attempt only
    assert engine.retry_delay(3, 5, (0,)) == 0                    # a zero schedule repeats its last entry


@pytest.mark.parametrize(("changes", "field"), [
    ({"kind": "dpd_crossed", "threshold_days": None}, "threshold_days"),
    ({"kind": "dpd_crossed", "threshold_days": 0}, "threshold_days"),
    ({"kind": "large_prepayment", "threshold_amount": None}, "threshold_amount"),
    ({"kind": "large_prepayment", "threshold_amount": Decimal("0")}, "threshold_amount"),
    ({"threshold_days": 5}, "threshold_days"),                    # days on a rule that takes none
    ({"kind": "nonsense"}, "kind"),
    ({"severity": "urgent"}, "severity"),
    ({"roles": []}, "roles"),
    ({"roles": ["support"]}, "roles"),                            # support cannot open the alert queue
    ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
    ({"webhook_url": "https://user:pw@example.com/x"}, "webhook_url"),
    ({"webhook_url": "https://example.com/x", "has_secret": False}, "webhook_secret"),
])
def test_check_rule_refuses(changes, field):
    settings = {"kind": "two_bounces", "threshold_days": None, "threshold_amount": None, "severity": "warning",
                "roles": ["collections"], "allowed_roles": ROLES, "webhook_url": None, "has_secret": True}
    settings.update(changes)
    assert field in engine.check_rule(**settings)


def test_check_rule_accepts_a_good_rule():
    assert engine.check_rule(kind="dpd_crossed", threshold_days=45, threshold_amount=None, severity="critical",
                             roles=["risk_officer"], allowed_roles=ROLES, webhook_url="https://example.com/hook",
                             has_secret=True) == {}


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = "sha256=" + hmac.new(b"secret-secret-123", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("secret-secret-123", "1700000000", body) == expected
    assert verify_signature("secret-secret-123", "1700000000", body, expected)
    assert not verify_signature("another-secret-456", "1700000000", body, expected)
    assert not verify_signature("secret-secret-123", "1700000001", body, expected)
    assert not verify_signature("secret-secret-123", "1700000000", b'{"a":2}', expected)
