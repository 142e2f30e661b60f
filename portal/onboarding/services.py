"""Customer registration (seed 003 ``/register``): approved limit = 36 x monthly salary, nearest lakh."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from portal.audit.services import record
from portal.auth.models import Institution
from portal.auth.services import create_user, default_institution
from portal.errors import DomainError
from portal.extensions import db
from portal.lending.rules import approved_limit
from portal.onboarding.models import Customer
from portal.security import Role


def register_customer(*, first_name: str, last_name: str, age: int | None, phone_number: str,
                      monthly_salary: Decimal, password: str | None = None, actor=None,
                      institution: Institution | None = None, source: str = "portal") -> Customer:
    """Create a Customer (and, with a password, the login that owns it).

    ``monthly_salary`` in rupees; ``approved_limit`` follows seed 003 (36 x salary, nearest lakh, halves
    up). Raises DomainError (409) when the phone number is already registered, (422) for bad values.
    """
    if monthly_salary is None or monthly_salary <= 0:
        raise DomainError("monthly income must be a positive amount of rupees")
    if age is not None and not 18 <= age <= 100:
        raise DomainError("age must be between 18 and 100")
    institution = institution or default_institution()
    if db.session.scalar(select(Customer.id).where(Customer.phone_number == phone_number,
                                                   Customer.institution_id == institution.id)):
        raise DomainError("a customer with this phone number is already registered", 409)
    user = None
    if password is not None:
        user = create_user(email=None, phone=phone_number, role=Role.CUSTOMER, password=password,
                           display_name=f"{first_name} {last_name}".strip(), institution=institution,
                           actor=actor)
    customer = Customer(institution_id=institution.id, user=user, first_name=first_name.strip(),
                        last_name=last_name.strip(), age=age, phone_number=phone_number,
                        monthly_salary=monthly_salary, approved_limit=approved_limit(monthly_salary),
                        source=source)
    db.session.add(customer)
    db.session.flush()
    record(actor or user, "customer.registered", customer,
           changes={"monthly_salary": monthly_salary, "approved_limit": customer.approved_limit})
    return customer


def customer_for_user(user) -> Customer | None:
    """The Customer owned by a customer login, else None."""
    return db.session.scalar(select(Customer).where(Customer.user_id == user.id))
