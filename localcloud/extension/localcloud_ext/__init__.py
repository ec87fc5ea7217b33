"""The local cloud's LocalStack extension (runs inside LocalStack, in .localcloud/venv)."""
