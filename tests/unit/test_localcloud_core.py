"""The local cloud's settings for LocalStack, without starting it."""

from __future__ import annotations

from localcloud.core import QUIET_LOGGERS, log_level_overrides


def test_the_request_log_is_one_setting_away_and_the_users_overrides_win() -> None:
    quiet = log_level_overrides(request_log=False)
    assert quiet.split(",") == [f"{name}=WARNING" for name in QUIET_LOGGERS]
    assert "localstack.request.aws" in QUIET_LOGGERS
    assert log_level_overrides(request_log=True) == ""
    mine = "localstack.request.aws=DEBUG"
    # LocalStack applies the pairs in order: the user's come last, so they win.
    assert log_level_overrides(request_log=False, user_overrides=mine).endswith("," + mine)
    assert log_level_overrides(request_log=True, user_overrides=mine) == mine
