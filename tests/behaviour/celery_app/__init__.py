"""A small Celery application and a worker-process runner for the Celery end-to-end tests.

``app.make_app(settings)`` builds the application both in the test process (to send tasks)
and in the worker subprocess (``worker.py`` reads the same settings from an environment
variable), so task names and routing agree on both sides. The tasks record what they did in
a JSON-lines file, so tests can observe side effects without a result backend.
"""
