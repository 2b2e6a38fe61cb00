"""The UI's static files on the management port: served without credentials, with a
content security policy, and nothing outside the UI's directory."""

from __future__ import annotations

import re

import pytest
import requests

pytestmark = pytest.mark.leveret_only


def test_the_page_and_its_modules_need_no_credentials(management_url: str) -> None:
    page = requests.get(f"{management_url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    # Every module the page and its modules import is served as JavaScript.
    pending, seen = ["app.js"], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        module = requests.get(f"{management_url}/ui/{name}", timeout=10)
        assert module.status_code == 200, name
        assert "javascript" in module.headers["Content-Type"], name
        pending += re.findall(r'from "\./([\w.]+)"', module.text)
    assert {"overview.js", "queues.js", "queue.js", "users.js", "chart.js"} <= seen
    assert requests.get(f"{management_url}/ui/ui.css", timeout=10).status_code == 200


def test_nothing_outside_the_ui_directory_is_served(management_url: str) -> None:
    for path in ("/ui/../app.py", "/ui/%2e%2e/app.py", "/ui/..%2Fui_routes.py", "/ui/missing.js"):
        reply = requests.get(f"{management_url}{path}", timeout=10)
        assert reply.status_code in (403, 404), path
        assert "import" not in reply.text
    # The API still wants credentials.
    assert requests.get(f"{management_url}/api/overview", timeout=10).status_code == 401
