"""The commands that work on a deployment, one module each: ``register(subparsers)`` adds the
command's parser, its handler turns the arguments into calls of ``callbackctl.deployment`` and
shows the result (text, or JSON with --json)."""
