"""`python -m localcloud logs` without a running local cloud: one function's lines, a closed pipe, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.cli import main

LOG = """\
2026-12-01T06:58:17.016  INFO --- [t.reactor-20] localstack.request.aws     : AWS dynamodb.UpdateItem => 200
2026-12-01T06:58:45.870  INFO --- [r-4] localcloud.lambda          : [CallbackPattern-PollerFn-295c] poller run finished
2026-12-01T06:58:46.001  INFO --- [r-5] localcloud.lambda          : [CallbackPattern-CreateJobFn-6f47] job created
2026-12-01T06:58:47.870  INFO --- [r-4] localcloud.lambda          : [CallbackPattern-PollerFn-295c] heartbeat sent
"""


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    (tmp_path / "localcloud.log").write_text(LOG)
    return tmp_path


def test_logs_of_one_function(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "--state-dir", str(state_dir), "--function", "poller"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit("] ", 1)[1] for line in lines] == ["poller run finished", "heartbeat sent"]
    assert main(["logs", "--state-dir", str(state_dir), "--function", "CreateJob", "-n", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith("job created")
    assert main(["logs", "--state-dir", str(state_dir), "-n", "0"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_logs_into_a_closed_pipe_end_quietly(tmp_path: Path) -> None:
    (tmp_path / "localcloud.log").write_text(LOG * 20_000)  # more than a pipe buffer
    reader = subprocess.Popen(["head", "-n", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run(
        [sys.executable, "-m", "localcloud", "logs", "-n", "0", "--state-dir", str(tmp_path)],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    assert reader.stdin is not None
    reader.stdin.close()
    reader.wait()
    assert writer.returncode == 0 and writer.stderr == ""


def test_bad_line_count_is_a_usage_error(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["logs", "--state-dir", str(state_dir), "-n", "-1"])
    assert exit_info.value.code == 2 and "must be 0 (all) or more" in capsys.readouterr().err
