"""The IntelGraph stand-in: an ASGI gateway over real Postgres, FalkorDB and Kafka.

Run as a child process by the stack: `python -m gonogo.sandbox.app CONFIG.json`.
"""
