"""Schemathesis hooks for Portcullis: authenticate as a fresh user per test.

Each test case signs in again, so an operation that ends a session (logout, a password change) cannot
leave the rest of the run without credentials."""

import json
import os
import urllib.request

import schemathesis

BASE = os.environ["PORTCULLIS_URL"]
EMAIL = os.environ["PORTCULLIS_EMAIL"]
PASSWORD = os.environ["PORTCULLIS_PASSWORD"]


def _login() -> str:
    request = urllib.request.Request(
        f"{BASE}/api/v1/auth/login",
        data=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


@schemathesis.auth(refresh_interval=None)
class PortcullisAuth:
    def get(self, case, ctx):
        return _login()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
