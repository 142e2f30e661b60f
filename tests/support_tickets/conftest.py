"""Support ticket fixtures: attachments go to a temporary UPLOAD_DIR; small valid PNG/PDF files."""
from __future__ import annotations

import io

import pytest


@pytest.fixture(autouse=True)
def upload_dir(request, tmp_path):
    folder = tmp_path / "uploads"
    if "app" not in request.fixturenames:
        yield folder
        return
    app = request.getfixturevalue("app")
    previous = app.config.get("UPLOAD_DIR")
    app.config["UPLOAD_DIR"] = str(folder)
    yield folder
    app.config["UPLOAD_DIR"] = previous


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "white").save(buffer, format="PNG")
    return buffer.getvalue()


PDF_BYTES = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
