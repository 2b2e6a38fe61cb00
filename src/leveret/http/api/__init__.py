"""One module per resource of RabbitMQ's management API; each exposes ``routes``."""
