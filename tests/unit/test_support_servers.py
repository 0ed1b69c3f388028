"""Without a PostgreSQL server or a local Spark, the engine tests skip, or fail when $CI is set
(tests/support/servers.py)."""

from __future__ import annotations

import pytest

from tests.support.servers import require_server_binaries, require_spark


def test_missing_server_fails_under_ci():
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_server_binaries(lambda: None, {"CI": "true"})


@pytest.mark.parametrize("env", [{}, {"CI": ""}, {"CI": "false"}])
def test_missing_server_skips_outside_ci(env):
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y postgresql"):
        require_server_binaries(lambda: None, env)


def test_missing_spark_fails_under_ci():
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_spark(lambda: "no java on PATH", {"CI": "true"})


@pytest.mark.parametrize("env", [{}, {"CI": ""}, {"CI": "false"}])
def test_missing_spark_skips_outside_ci(env):
    with pytest.raises(pytest.skip.Exception, match="no java on PATH"):
        require_spark(lambda: "no java on PATH", env)
