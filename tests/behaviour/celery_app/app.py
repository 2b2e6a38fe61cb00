"""The Celery application under test: a factory, its tasks, and the side-effect journal."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from celery import Celery, Task

SETTINGS_ENV = "LEVERET_CELERY_SETTINGS"
JOURNAL_KEY = "leveret_journal"  # not a Celery setting: where tasks record their runs

ADD = "leveret_test.add"
RECORD = "leveret_test.record"
FLAKY = "leveret_test.flaky"


def record(journal: str, **fields: Any) -> None:
    """Append one JSON line (with the wall-clock time) to the journal file."""
    fields.setdefault("time", time.time())
    line = json.dumps(fields, sort_keys=True) + "\n"
    with open(journal, "a", encoding="utf-8") as out:
        out.write(line)
        out.flush()


def read_journal(journal: str | Path) -> list[dict[str, Any]]:
    try:
        text = Path(journal).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def make_app(settings: dict[str, Any]) -> Celery:
    """A Celery app configured by ``settings`` (Celery's lowercase setting names).

    ``settings[JOURNAL_KEY]`` is the file the tasks append their runs to.
    """
    conf = dict(settings)
    journal = str(conf.pop(JOURNAL_KEY))
    app = Celery("leveret_test", set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=3,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        **conf,
    )

    @app.task(name=ADD, bind=True, shared=False)
    def add(self: Task, x: int, y: int) -> int:
        record(journal, task=ADD, id=self.request.id, args=[x, y], result=x + y)
        return x + y

    @app.task(name=RECORD, bind=True, shared=False)
    def record_value(self: Task, value: Any) -> Any:
        record(
            journal,
            task=RECORD,
            id=self.request.id,
            value=value,
            eta=self.request.eta,
            hostname=self.request.hostname,
            delivery_info=dict(self.request.delivery_info or {}),
        )
        return value

    @app.task(
        name=FLAKY,
        bind=True,
        shared=False,
        autoretry_for=(RuntimeError,),
        retry_backoff=1,
        retry_backoff_max=8,
        retry_jitter=False,
        max_retries=5,
    )
    def flaky(self: Task, key: str, failures: int) -> str:
        """Fail the first ``failures`` runs (autoretry with exponential backoff), then succeed."""
        attempt = self.request.retries
        record(journal, task=FLAKY, id=self.request.id, key=key, attempt=attempt)
        if attempt < failures:
            raise RuntimeError(f"attempt {attempt} of {key} fails on purpose")
        return f"{key} succeeded after {attempt} retries"

    return app


def app_from_env() -> Celery:
    return make_app(json.loads(os.environ[SETTINGS_ENV]))
