"""callbackctl: deploy, drive and watch the callback-pattern stack on any target."""
