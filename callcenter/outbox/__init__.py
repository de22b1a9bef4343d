"""The durable outbox between the call path and the worker processes (docs/architecture.md "Processes")."""
