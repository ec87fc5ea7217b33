"""``python -m callbackctl`` and the ``callbackctl`` script (see ``cli/app.py``)."""

from callbackctl.cli.app import main

if __name__ == "__main__":
    raise SystemExit(main())
