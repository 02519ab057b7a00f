"""Schemathesis hooks for Portcullis: sign in before every request.

Every request signs in again, so an operation that ends a session (logout, a password change) cannot
leave the rest of the run without credentials. When the account can no longer sign in (deleted by
DELETE /me, or locked because wrong current passwords sent to /auth/password or /me/email count as
failed sign-ins), the run goes on as a newly signed-up account."""

import json
import os
import urllib.error
import urllib.request
import uuid

import schemathesis

BASE = os.environ["PORTCULLIS_URL"]
PASSWORD = os.environ["PORTCULLIS_PASSWORD"]
current_email = os.environ["PORTCULLIS_EMAIL"]


def _post(path: str, body: dict) -> str:
    request = urllib.request.Request(
        f"{BASE}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def _login() -> str:
    global current_email
    try:
        return _post("/api/v1/auth/login", {"email": current_email, "password": PASSWORD})
    except urllib.error.HTTPError as refused:
        if refused.code not in (401, 429):
            raise
    current_email = f"contract+{uuid.uuid4().hex}@example.com"
    return _post("/api/v1/auth/signup", {"email": current_email, "password": PASSWORD})


@schemathesis.auth(refresh_interval=None)
class PortcullisAuth:
    def get(self, case, ctx):
        return _login()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
