"""Shared values and helpers of the onboarding tests (the fixtures live in conftest.py)."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

from tests.conftest import csrf_token

PAN = "ABCPE1234F"
AADHAAR = "234123412346"            # Verhoeff check digit valid
AADHAAR_BAD_CHECKSUM = "234123412345"
GSTIN = "27ABCPE1234F1ZB"           # embeds PAN
GSTIN_OTHER_PAN = "29AAACB1234C1ZB"  # valid, but embeds AAACB1234C

STEP_DATA: dict[str, dict[str, str]] = {
    "personal": {"first_name": "Meera", "last_name": "Iyer", "date_of_birth": "1990-05-17",
                 "email": "meera@example.com"},
    "contact": {"address_line1": "12 MG Road", "address_line2": "Indiranagar", "city": "Bengaluru",
                "state": "Karnataka", "pincode": "560038"},
    "employment": {"employment_type": "salaried", "employer_name": "Infosys", "monthly_income": "12500"},
    "identity": {"pan": PAN, "aadhaar": AADHAAR, "gstin": ""},
}
FORM_STEPS = ("personal", "contact", "employment", "identity")


def card_png(title: str, number: str) -> bytes:
    """A small ID-card-like PNG drawn with Pillow."""
    image = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 630, 390), outline="black", width=3)
    draw.text((40, 40), title, fill="black")
    draw.text((40, 120), "MEERA IYER", fill="black")
    draw.text((40, 200), number, fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Wizard:
    """Drives the wizard through the pages like a browser (htmx or plain)."""

    def __init__(self, client):
        self.client = client
        self._token = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = csrf_token(self.client, "/me/consents")
        return self._token

    def get(self, step: str | None = None, *, htmx: bool = False, **kwargs):
        url = "/onboarding" if step is None else f"/onboarding/{step}"
        return self.client.get(url, headers={"HX-Request": "true"} if htmx else {}, **kwargs)

    def post(self, step: str, data: dict | None = None, *, htmx: bool = False, action: str = "next", **kwargs):
        payload = {**(STEP_DATA.get(step, {}) if data is None else data), "action": action,
                   "csrf_token": self.token}
        return self.client.post(f"/onboarding/{step}", data=payload,
                                headers={"HX-Request": "true"} if htmx else {}, **kwargs)

    def consents(self, purposes=("terms", "kyc_processing", "bureau_check"), **kwargs):
        return self.client.post("/onboarding/consents", data={"consent": list(purposes), "action": "next",
                                                              "csrf_token": self.token}, **kwargs)

    def upload(self, kind: str, data: bytes | None = None, filename: str | None = None):
        """Upload through the KYC module's page route (what the documents step's form posts to)."""
        data = data if data is not None else card_png(kind.upper(), PAN if kind == "pan_card" else "XXXX XXXX 2346")
        return self.client.post("/me/documents", content_type="multipart/form-data",
                                headers={"HX-Request": "true"},
                                data={"kind": kind, "file": (io.BytesIO(data), filename or f"{kind}.png"),
                                      "csrf_token": self.token})

    def submit(self, **kwargs):
        return self.client.post("/onboarding/submit", data={"csrf_token": self.token}, **kwargs)

    def complete(self, until: str = "review", *, consents=("terms", "kyc_processing", "bureau_check")):
        """Save every step before ``until`` (uploading the PAN card and Aadhaar for the documents step)."""
        for step in ("personal", "contact", "employment", "identity", "documents", "consents"):
            if step == until:
                return
            if step == "documents":
                for kind in ("pan_card", "aadhaar"):
                    r = self.upload(kind)
                    assert r.status_code == 200, r.get_data(as_text=True)
                r = self.post("documents", {})
            elif step == "consents":
                r = self.consents(consents)
            else:
                r = self.post(step)
            assert r.status_code == 303, (step, r.status_code, r.get_data(as_text=True)[:2000])
