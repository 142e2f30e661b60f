"""The onboarding wizard (seed 002): personal -> contact -> employment -> identity -> documents -> consents
-> review, then submit with an initial eligibility (indicative limit and score band).

Every step is saved server-side: ``onboarding_data`` holds the draft (what the customer last typed on each step,
strings only, never the Aadhaar number) and the validated values go to the customer's own columns.
``onboarding_step`` is the furthest step reached (the wizard resumes there; later steps are refused).
The Aadhaar number goes straight into ``aadhaar_encrypted`` (``portal.crypto``) with only its last four digits
in clear; it is never echoed back, put in the draft, the audit log or a log line.

Validation (shape and rules) lives here so that every caller gets the same answers; ``StepInvalid`` carries
one message per field. Services flush and audit; the caller commits.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.in_ import aadhaar as stdnum_aadhaar
from stdnum.in_ import gstin as stdnum_gstin
from stdnum.in_ import pan as stdnum_pan

from portal.audit.services import apply_changes, record
from portal.crypto import encrypt
from portal.errors import DomainError
from portal.extensions import db
from portal.lending import rules
from portal.money import quantize
from portal.onboarding import consents
from portal.onboarding.models import Customer

STEPS: tuple[str, ...] = ("personal", "contact", "employment", "identity", "documents", "consents", "review")
STEP_TITLES: dict[str, str] = {
    "personal": "Personal details", "contact": "Contact and address", "employment": "Employment and income",
    "identity": "Identity (PAN, Aadhaar, GSTIN)", "documents": "Documents", "consents": "Consents",
    "review": "Review and submit",
}
STEP_SHORT: dict[str, str] = {
    "personal": "Personal", "contact": "Address", "employment": "Income", "identity": "Identity",
    "documents": "Documents", "consents": "Consents", "review": "Review",
}
#: The fields each form step keeps in the draft (the Aadhaar number is never among them).
FIELDS: dict[str, tuple[str, ...]] = {
    "personal": ("first_name", "last_name", "date_of_birth", "email"),
    "contact": ("address_line1", "address_line2", "city", "state", "pincode"),
    "employment": ("employment_type", "employer_name", "monthly_income"),
    "identity": ("pan", "gstin"),
}
FORM_STEPS = tuple(FIELDS)
EMPLOYMENT_TYPES: dict[str, str] = {"salaried": "Salaried", "self_employed": "Self-employed",
                                    "business": "Business owner"}
#: States and union territories of India (for the address select).
INDIAN_STATES: tuple[str, ...] = (
    "Andhra Pradesh", "Arunachal Pradesh", "Assam", "Bihar", "Chhattisgarh", "Goa", "Gujarat", "Haryana",
    "Himachal Pradesh", "Jharkhand", "Karnataka", "Kerala", "Madhya Pradesh", "Maharashtra", "Manipur",
    "Meghalaya", "Mizoram", "Nagaland", "Odisha", "Punjab", "Rajasthan", "Sikkim", "Tamil Nadu", "Telangana",
    "Tripura", "Uttar Pradesh", "Uttarakhand", "West Bengal",
    "Andaman and Nicobar Islands", "Chandigarh", "Dadra and Nagar Haveli and Daman and Diu", "Delhi",
    "Jammu and Kashmir", "Ladakh", "Lakshadweep", "Puducherry",
)
MIN_AGE, MAX_AGE = 18, 100
MAX_MONTHLY_INCOME = Decimal("100000000.00")  # Rs 10 crore a month: anything above is a typing slip
#: The nominal request used to read the score band on submit (the band does not depend on it).
NOMINAL_AMOUNT, NOMINAL_TENURE, NOMINAL_RATE = Decimal("10000.00"), 12, Decimal("12.00")
EDITABLE_KYC = ("not_started", "in_progress", "rejected")

_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ .'\-][^\W\d_]*)*\.?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PIN_RE = re.compile(r"^[1-9][0-9]{5}$")


class StepInvalid(DomainError):
    """A step's values broke a rule. ``errors`` maps each field to one message; nothing of the step was saved
    (except a valid Aadhaar number, so the customer never has to type it twice)."""

    def __init__(self, step: str, errors: dict[str, str]) -> None:
        super().__init__(f"Please correct the highlighted fields on the {STEP_TITLES[step].lower()} step.", 422)
        self.step = step
        self.errors = errors


# ------------------------------------------------------------------------------------------------ navigation


def step_index(step: str) -> int:
    return STEPS.index(step)


def next_step(step: str) -> str | None:
    i = step_index(step)
    return STEPS[i + 1] if i + 1 < len(STEPS) else None


def previous_step(step: str) -> str | None:
    i = step_index(step)
    return STEPS[i - 1] if i > 0 else None


def reached_step(customer: Customer) -> str:
    """The furthest step the customer has reached (where the wizard resumes)."""
    step = customer.onboarding_step
    return step if step in STEPS else STEPS[0]


def can_open(customer: Customer, step: str) -> bool:
    """True when ``step`` is the reached step or an earlier one."""
    return step in STEPS and step_index(step) <= step_index(reached_step(customer))


def is_editable(customer: Customer) -> bool:
    """The wizard is open until the onboarding is submitted (and again after a KYC rejection)."""
    return (customer.kyc_status or "not_started") in EDITABLE_KYC


# --------------------------------------------------------------------------------------------------- drafts


def _data(customer: Customer) -> dict:
    """A deep copy of the draft (JSON columns only notice a new value, so callers assign it back)."""
    data = copy.deepcopy(customer.onboarding_data or {})
    data.setdefault("steps", {})
    data.setdefault("completed", [])
    return data


def _from_customer(customer: Customer, step: str) -> dict[str, str]:
    c = customer
    if step == "personal":
        return {"first_name": c.first_name or "", "last_name": c.last_name or "",
                "date_of_birth": c.date_of_birth.isoformat() if c.date_of_birth else "", "email": c.email or ""}
    if step == "contact":
        return {"address_line1": c.address_line1 or "", "address_line2": c.address_line2 or "",
                "city": c.city or "", "state": c.state or "", "pincode": c.pincode or ""}
    if step == "employment":
        income = c.monthly_salary if c.monthly_salary and c.monthly_salary > 0 else None
        return {"employment_type": c.employment_type or "", "employer_name": c.employer_name or "",
                "monthly_income": f"{income:.2f}" if income is not None else ""}
    if step == "identity":
        return {"pan": c.pan or "", "gstin": c.gstin or ""}
    return {}


def values_for(customer: Customer, step: str) -> dict[str, str]:
    """What the step's form shows: the saved draft, else what the customer record already holds."""
    draft = (customer.onboarding_data or {}).get("steps", {}).get(step)
    if draft is not None and step in FIELDS:
        return {f: str(draft.get(f, "") or "") for f in FIELDS[step]}
    return _from_customer(customer, step)


def consent_choices(customer: Customer) -> dict[str, bool]:
    """The ticks of the consents step: an unsaved draft (left with Back), else the active grants of the
    current versions."""
    draft = (customer.onboarding_data or {}).get("steps", {}).get("consents")
    texts = consents.current_texts()
    if draft is not None:
        return {t.purpose: bool(draft.get(t.purpose)) for t in texts}
    active = consents.active_consents(customer)
    return {t.purpose: t.purpose in active and active[t.purpose].version == t.version for t in texts}


def _clean_raw(step: str, data: dict) -> dict:
    if step == "consents":
        return {t.purpose: bool(data.get(t.purpose)) for t in consents.current_texts()}
    return {f: str(data.get(f) or "").strip()[:300] for f in FIELDS.get(step, ())}


def save_draft(customer: Customer, step: str, data: dict) -> None:
    """Keep what the customer typed on ``step`` without validating it (Back: no input is lost). The Aadhaar
    number is dropped; the customer's own columns and the reached step are not touched."""
    if step not in FIELDS and step != "consents":
        return
    stored = _data(customer)
    stored["steps"][step] = _clean_raw(step, data)
    customer.onboarding_data = stored


# ----------------------------------------------------------------------------------------------- validation


def _age_on(born: date, as_of: date) -> int:
    return as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))


def _parse_date(text: str) -> date | None:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _name(errors: dict, field: str, value: str, label: str) -> str:
    value = " ".join(value.split())
    if not value:
        errors[field] = f"Enter your {label}."
    elif len(value) > 100:
        errors[field] = f"Your {label} is too long (at most 100 characters)."
    elif not _NAME_RE.match(value):
        errors[field] = f"Your {label} may contain letters, spaces, dots, apostrophes and hyphens only."
    return value


def _validate_personal(values: dict, as_of: date) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    first = _name(errors, "first_name", values.get("first_name", ""), "first name")
    last = _name(errors, "last_name", values.get("last_name", ""), "last name")
    born = None
    raw_dob = values.get("date_of_birth", "").strip()
    if not raw_dob:
        errors["date_of_birth"] = "Enter your date of birth."
    else:
        born = _parse_date(raw_dob)
        if born is None:
            errors["date_of_birth"] = "Enter your date of birth as a date (for example 1990-04-21)."
        elif born > as_of:
            errors["date_of_birth"] = "Your date of birth cannot be in the future."
        else:
            age = _age_on(born, as_of)
            if age < MIN_AGE:
                errors["date_of_birth"] = f"You must be at least {MIN_AGE} years old to borrow (you are {age})."
            elif age > MAX_AGE:
                errors["date_of_birth"] = f"Check your date of birth: it gives an age over {MAX_AGE}."
    email = values.get("email", "").strip()
    if not email:
        errors["email"] = "Enter your email address."
    elif len(email) > 254 or not _EMAIL_RE.match(email):
        errors["email"] = "Enter an email address like name@example.com."
    else:
        local, _, domain = email.rpartition("@")
        email = f"{local}@{domain.lower()}"
    clean = {"first_name": first, "last_name": last, "date_of_birth": born, "email": email}
    if born is not None and "date_of_birth" not in errors:
        clean["age"] = _age_on(born, as_of)
    return clean, errors


def _validate_contact(values: dict) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    line1 = " ".join(values.get("address_line1", "").split())
    line2 = " ".join(values.get("address_line2", "").split())
    city = " ".join(values.get("city", "").split())
    state = values.get("state", "").strip()
    pincode = re.sub(r"\s", "", values.get("pincode", ""))
    if not line1:
        errors["address_line1"] = "Enter the first line of your address."
    elif len(line1) > 200:
        errors["address_line1"] = "At most 200 characters."
    if len(line2) > 200:
        errors["address_line2"] = "At most 200 characters."
    if not city:
        errors["city"] = "Enter your city, town or village."
    elif len(city) > 100:
        errors["city"] = "At most 100 characters."
    if not state:
        errors["state"] = "Choose your state or union territory."
    elif state not in INDIAN_STATES:
        errors["state"] = "Choose a state or union territory from the list."
    if not pincode:
        errors["pincode"] = "Enter your PIN code."
    elif not _PIN_RE.match(pincode):
        errors["pincode"] = "A PIN code is 6 digits and does not start with 0."
    return {"address_line1": line1, "address_line2": line2 or None, "city": city, "state": state,
            "pincode": pincode}, errors


def parse_income(text: str) -> Decimal:
    """'1,25,000.50' / 'Rs 50000' -> Decimal rupees; ValueError when it is not an amount."""
    cleaned = re.sub(r"^(rs\.?|inr|₹)\s*", "", text.strip(), flags=re.IGNORECASE).replace(",", "").strip()
    if not cleaned or not re.fullmatch(r"\d+(\.\d{1,2})?", cleaned):
        raise ValueError(text)
    try:
        return quantize(Decimal(cleaned))
    except InvalidOperation:
        raise ValueError(text) from None


def _validate_employment(values: dict) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    kind = values.get("employment_type", "").strip()
    employer = " ".join(values.get("employer_name", "").split())
    if kind not in EMPLOYMENT_TYPES:
        errors["employment_type"] = "Choose salaried, self-employed or business owner."
    if not employer:
        errors["employer_name"] = ("Enter your business's name." if kind == "business"
                                   else "Enter your employer's name." if kind == "salaried"
                                   else "Enter your employer or business name.")
    elif len(employer) > 200:
        errors["employer_name"] = "At most 200 characters."
    income = None
    raw = values.get("monthly_income", "").strip()
    if not raw:
        errors["monthly_income"] = "Enter your monthly income in rupees."
    else:
        try:
            income = parse_income(raw)
        except ValueError:
            errors["monthly_income"] = "Enter the amount in rupees, digits only (for example 45000 or 45000.50)."
        else:
            if income <= 0:
                errors["monthly_income"] = "Your monthly income must be more than zero."
            elif income > MAX_MONTHLY_INCOME:
                errors["monthly_income"] = "That is more than Rs 10 crore a month: check the amount."
    return {"employment_type": kind, "employer_name": employer, "monthly_income": income,
            "is_business": kind == "business"}, errors


_PAN_MESSAGES = {
    InvalidLength: "A PAN has 10 characters (5 letters, 4 digits, 1 letter), like ABCPE1234F.",
    InvalidFormat: "A PAN looks like ABCPE1234F: 5 letters, 4 digits, 1 letter.",
    InvalidComponent: "This is not a valid PAN: its fourth letter (the holder type) is not one the tax "
                      "department issues.",
}
_AADHAAR_MESSAGES = {
    InvalidLength: "An Aadhaar number has 12 digits.",
    InvalidFormat: "An Aadhaar number has 12 digits and does not start with 0 or 1.",
    InvalidChecksum: "This Aadhaar number is not valid (its check digit does not match): check for a typing "
                     "slip and re-enter it.",
}
_GSTIN_MESSAGES = {
    InvalidLength: "A GSTIN has 15 characters.",
    InvalidFormat: "A GSTIN looks like 27ABCPE1234F1Z5: state code, PAN, entity number, Z, check character.",
    InvalidComponent: "This GSTIN's state code or PAN part is not valid.",
    InvalidChecksum: "This GSTIN is not valid (its check character does not match).",
}


def _stdnum_message(exc: ValidationError, messages: dict, default: str) -> str:
    for kind, message in messages.items():
        if isinstance(exc, kind):
            return message
    return default


def _validate_identity(values: dict, *, aadhaar: str | None, has_aadhaar: bool,
                       is_business: bool) -> tuple[dict, dict]:
    """PAN, Aadhaar and (for a business) GSTIN, each with python-stdnum; the GSTIN must embed the PAN."""
    errors: dict[str, str] = {}
    pan = stdnum_pan.compact(values.get("pan", "") or "")
    if not pan:
        errors["pan"] = "Enter your PAN."
    else:
        try:
            pan = stdnum_pan.validate(pan)
        except ValidationError as exc:
            errors["pan"] = _stdnum_message(exc, _PAN_MESSAGES, "This is not a valid PAN.")
    clean_aadhaar = None
    raw_aadhaar = (aadhaar or "").strip()
    if raw_aadhaar:
        try:
            clean_aadhaar = stdnum_aadhaar.validate(raw_aadhaar)
        except ValidationError as exc:
            errors["aadhaar"] = _stdnum_message(exc, _AADHAAR_MESSAGES, "This is not a valid Aadhaar number.")
    elif not has_aadhaar:
        errors["aadhaar"] = "Enter your 12-digit Aadhaar number."
    gstin = stdnum_gstin.compact(values.get("gstin", "") or "")
    if not gstin:
        if is_business:
            errors["gstin"] = "A business borrower must give its GSTIN."
    else:
        try:
            gstin = stdnum_gstin.validate(gstin)
        except ValidationError as exc:
            errors["gstin"] = _stdnum_message(exc, _GSTIN_MESSAGES, "This is not a valid GSTIN.")
        else:
            if "pan" not in errors and stdnum_gstin.to_pan(gstin) != pan:
                errors["gstin"] = (f"The PAN inside this GSTIN ({stdnum_gstin.to_pan(gstin)}) is not the PAN you "
                                   f"entered ({pan}).")
    return {"pan": pan, "gstin": gstin or None, "aadhaar": clean_aadhaar}, errors


def is_business_borrower(customer: Customer) -> bool:
    """True when the employment step (draft or saved) says business: the GSTIN is then required."""
    return values_for(customer, "employment").get("employment_type") == "business" or bool(customer.is_business)


def validate_step(customer: Customer, step: str, values: dict, *, as_of: date,
                  aadhaar: str | None = None) -> dict:
    """Validate a form step; return the clean values or raise ``StepInvalid``."""
    if step == "personal":
        clean, errors = _validate_personal(values, as_of)
    elif step == "contact":
        clean, errors = _validate_contact(values)
    elif step == "employment":
        clean, errors = _validate_employment(values)
    elif step == "identity":
        clean, errors = _validate_identity(values, aadhaar=aadhaar, has_aadhaar=customer.aadhaar_encrypted is not None,
                                           is_business=is_business_borrower(customer))
    else:
        raise ValueError(f"{step} is not a form step")
    if errors:
        raise StepInvalid(step, errors)
    return clean


# --------------------------------------------------------------------------------------------------- saving


def _draft_strings(step: str, clean: dict) -> dict[str, str]:
    out = {}
    for f in FIELDS[step]:
        value = clean.get(f)
        if f == "monthly_income" and value is not None:
            out[f] = f"{value:.2f}"
        elif isinstance(value, date):
            out[f] = value.isoformat()
        else:
            out[f] = "" if value is None else str(value)
    return out


def _column_changes(step: str, clean: dict) -> dict:
    if step == "personal":
        return {k: clean[k] for k in ("first_name", "last_name", "date_of_birth", "email", "age")}
    if step == "contact":
        return dict(clean)
    if step == "employment":
        return {"employment_type": clean["employment_type"], "employer_name": clean["employer_name"],
                "is_business": clean["is_business"]}
    if step == "identity":
        return {"pan": clean["pan"], "gstin": clean["gstin"]}
    return {}


def _store_aadhaar(customer: Customer, number: str) -> bool:
    """Encrypt ``number`` into the customer; True when it changed (the number itself is never returned)."""
    from portal.crypto import decrypt

    if customer.aadhaar_encrypted is not None:
        try:
            if decrypt(customer.aadhaar_encrypted) == number:
                return False
        except ValueError:
            pass
    customer.aadhaar_encrypted = encrypt(number)
    customer.aadhaar_last4 = number[-4:]
    return True


def missing_documents(customer: Customer) -> list[str]:
    """Labels of the required documents (PAN card, Aadhaar) not uploaded yet (the KYC module decides)."""
    from portal.onboarding.documents import DOCUMENT_KINDS, missing_required_kinds

    return [DOCUMENT_KINDS.get(kind, kind) for kind in missing_required_kinds(customer)]


def rejected_documents(customer: Customer) -> list[str]:
    """Labels of current documents an officer rejected (they must be uploaded again before a resubmit)."""
    from portal.onboarding.documents import DOCUMENT_KINDS, current_documents

    return [DOCUMENT_KINDS.get(d.kind, d.kind) for d in current_documents(customer) if d.review_status == "rejected"]


def _apply_form_step(customer: Customer, step: str, clean: dict, stored: dict) -> list[str]:
    """Write a validated step into the customer's columns and the draft; return the changed field names."""
    changed = list(apply_changes(customer, _column_changes(step, clean)))
    if step == "identity" and clean.get("aadhaar") and _store_aadhaar(customer, clean["aadhaar"]):
        changed.append("aadhaar")
    stored["steps"][step] = _draft_strings(step, clean)
    return changed


def save_step(customer: Customer, step: str, data: dict, *, actor, now: datetime, ip: str | None,
              as_of: date | None = None) -> str:
    """Validate and save ``step`` from the submitted ``data`` (strings; ``aadhaar`` for the identity step,
    consent purposes ticked for the consents step); move the reached step on; return the next step.
    ``as_of`` (for the age) defaults to the institution's business date.

    Raises ``StepInvalid`` (422, per-field messages) or DomainError (409 when the onboarding was submitted,
    422 when the documents step misses a required document). A valid Aadhaar number is kept even when
    another identity field is wrong, so that it never has to be typed (or echoed back) twice.
    """
    if step not in STEPS or step == "review":
        raise DomainError("There is nothing to save on this step.", 400 if step not in STEPS else 422)
    if not is_editable(customer):
        raise DomainError("Your onboarding has been submitted; it can no longer be changed here.", 409)
    if not can_open(customer, step):
        raise DomainError("Complete the earlier steps first.", 409)
    if as_of is None:  # ages are counted on the business date
        from portal.business_date import current_business_date
        from portal.clock import FixedClock

        as_of = current_business_date(customer.institution_id, FixedClock(now))
    stored = _data(customer)
    changed: list[str] = []
    if step in FIELDS:
        values = {f: str(data.get(f) or "") for f in FIELDS[step]}
        try:
            clean = validate_step(customer, step, values, as_of=as_of, aadhaar=data.get("aadhaar"))
        except StepInvalid as exc:
            if step == "identity" and "aadhaar" not in exc.errors and (data.get("aadhaar") or "").strip():
                number = stdnum_aadhaar.validate(data["aadhaar"])
                if _store_aadhaar(customer, number):
                    record(actor, "onboarding.aadhaar_saved", customer, changes={"aadhaar_last4": number[-4:]})
            raise
        changed = _apply_form_step(customer, step, clean, stored)
    elif step == "documents":
        missing = missing_documents(customer)
        if missing:
            raise DomainError(f"Upload your {' and '.join(missing)} to continue.", 422)
    elif step == "consents":
        changed = _save_consents(customer, data, stored, now=now, ip=ip)
    old_status = customer.kyc_status
    if customer.kyc_status in ("not_started", None):  # a KYC rejection stays until the customer resubmits
        customer.kyc_status = "in_progress"
    if step not in stored["completed"]:
        stored["completed"].append(step)
    nxt = next_step(step)
    if step_index(nxt) > step_index(reached_step(customer)):
        customer.onboarding_step = nxt
    customer.onboarding_data = stored
    audit = {"step": step, "fields_changed": sorted(changed), "next_step": nxt}
    if old_status != customer.kyc_status:
        audit["kyc_status"] = (old_status, customer.kyc_status)
    record(actor, "onboarding.step_saved", customer, changes=audit)
    return nxt


def _save_consents(customer: Customer, data: dict, stored: dict, *, now: datetime, ip: str | None) -> list[str]:
    texts = consents.current_texts()
    ticked = {t.purpose: bool(data.get(t.purpose)) for t in texts}
    errors = {t.purpose: f"You must accept “{t.title}” to continue." for t in texts
              if t.required and not ticked[t.purpose]}
    if errors:
        raise StepInvalid("consents", errors)
    changed = []
    active = consents.active_consents(customer)
    for t in texts:
        held = active.get(t.purpose)
        if ticked[t.purpose] and (held is None or held.version != t.version):
            consents.grant(customer, t.purpose, now=now, ip=ip)
            changed.append(t.purpose)
        elif not ticked[t.purpose] and held is not None:
            consents.withdraw(customer, t.purpose, now=now, ip=ip)
            changed.append(t.purpose)
    stored["steps"].pop("consents", None)  # the grants themselves are the saved state
    return changed


# ----------------------------------------------------------------------------------------------- submitting


@dataclass(frozen=True)
class InitialEligibility:
    """What the customer sees right after onboarding. ``scored`` is False (with ``message``) when the
    bureau-check consent is missing; then only the approved limit is known."""

    as_of: date
    approved_limit: Decimal
    scored: bool
    message: str | None = None
    score: int | None = None
    band: str | None = None
    indicative_limit: Decimal | None = None
    min_rate: Decimal | None = None

    def as_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "approved_limit": str(self.approved_limit), "scored": self.scored,
                "message": self.message, "score": self.score, "band": self.band,
                "indicative_limit": None if self.indicative_limit is None else str(self.indicative_limit),
                "min_rate": None if self.min_rate is None else str(self.min_rate)}

    @classmethod
    def from_dict(cls, data: dict) -> InitialEligibility:
        def dec(key):
            return None if data.get(key) is None else Decimal(data[key])

        return cls(as_of=date.fromisoformat(data["as_of"]), approved_limit=Decimal(data["approved_limit"]),
                   scored=bool(data["scored"]), message=data.get("message"), score=data.get("score"),
                   band=data.get("band"), indicative_limit=dec("indicative_limit"), min_rate=dec("min_rate"))


def initial_eligibility(customer: Customer, *, as_of: date) -> InitialEligibility:
    """Score the customer on a nominal request (seed 003 score and band) and derive an indicative limit:
    the approved limit less running loans, nothing in the reject band. Refuses scoring (``scored=False``)
    without an active bureau-check consent."""
    from portal.lending.services import assess

    if consents.purpose_exists(consents.BUREAU_CHECK) and not consents.has_consent(customer, consents.BUREAU_CHECK):
        verb = "withdrew" if consents.ever_granted(customer, consents.BUREAU_CHECK) else "did not give"
        return InitialEligibility(
            as_of=as_of, approved_limit=customer.approved_limit, scored=False,
            message=f"We did not score your profile: you {verb} consent for the bureau check. Give it on the "
                    "Consents page to see your indicative limit and to apply for a loan.")
    result = assess(customer, amount=NOMINAL_AMOUNT, tenure=NOMINAL_TENURE, interest_rate=NOMINAL_RATE, as_of=as_of)
    slab = result.eligibility.slab
    indicative = max(customer.approved_limit - result.current_debt, Decimal("0.00")) if slab.approvable \
        else Decimal("0.00")
    return InitialEligibility(as_of=as_of, approved_limit=customer.approved_limit, scored=True,
                              score=result.score.score, band=result.band, indicative_limit=quantize(indicative),
                              min_rate=slab.min_rate)


def check_complete(customer: Customer, *, as_of: date) -> dict[str, dict]:
    """Validate every step of the draft again (the customer may have gone back and changed things).
    Returns the clean values per form step; raises ``StepInvalid`` for the first failing step, or
    DomainError for missing documents or required consents."""
    cleaned = {}
    for step in FORM_STEPS:
        cleaned[step] = validate_step(customer, step, values_for(customer, step), as_of=as_of)
    missing = missing_documents(customer)
    if missing:
        raise DomainError(f"Upload your {' and '.join(missing)} before you submit.", 422)
    rejected = rejected_documents(customer)
    if rejected:
        raise DomainError(f"Upload your {' and '.join(rejected)} again: the officer did not accept the last one.",
                          422)
    active = consents.active_consents(customer)
    for text in consents.current_texts():
        if text.required and text.purpose not in active:
            raise StepInvalid("consents", {text.purpose: f"You must accept “{text.title}” to submit."})
    return cleaned


def submit_onboarding(customer: Customer, *, actor, now: datetime, as_of: date) -> InitialEligibility:
    """Submit the onboarding for KYC review: re-check every step, write the values, set the monthly salary and
    the seed 003 approved limit, mark KYC ``submitted`` and return (and keep) the initial eligibility."""
    if not is_editable(customer):
        raise DomainError("Your onboarding has already been submitted.", 409)
    if reached_step(customer) != "review":
        raise DomainError("Complete every step before you submit.", 409)
    cleaned = check_complete(customer, as_of=as_of)
    stored = _data(customer)
    for step, clean in cleaned.items():
        _apply_form_step(customer, step, clean, stored)
    salary = cleaned["employment"]["monthly_income"]
    old = {"kyc_status": customer.kyc_status, "monthly_salary": customer.monthly_salary,
           "approved_limit": customer.approved_limit}
    customer.monthly_salary = salary
    customer.approved_limit = rules.approved_limit(salary)
    customer.kyc_status = "submitted"
    customer.onboarding_submitted_at = now
    db.session.flush()
    result = initial_eligibility(customer, as_of=as_of)
    stored["eligibility"] = result.as_dict()
    customer.onboarding_data = stored
    changes = {k: (v, getattr(customer, k)) for k, v in old.items() if v != getattr(customer, k)}
    changes["score_band"] = result.band if result.scored else "not scored"
    record(actor, "onboarding.submitted", customer, changes=changes)
    return result


def stored_eligibility(customer: Customer) -> InitialEligibility | None:
    """The initial eligibility kept at submission, if any."""
    data = (customer.onboarding_data or {}).get("eligibility")
    return InitialEligibility.from_dict(data) if data else None
