"""outcome_metrics.testing.postgres finds the server binaries a throwaway cluster needs."""

from __future__ import annotations

from pathlib import Path

from outcome_metrics.testing.postgres import find_bin_dir


def test_server_binaries_come_from_path_first_then_the_newest_versioned_dir(tmp_path):
    def install(directory: Path) -> Path:
        directory.mkdir(parents=True)
        for binary in ("initdb", "pg_ctl"):
            (directory / binary).write_text("#!/bin/sh\n")
            (directory / binary).chmod(0o755)
        return directory

    on_path, v9, v15 = install(tmp_path / "path"), install(tmp_path / "lib/9.6/bin"), install(tmp_path / "lib/15/bin")
    assert find_bin_dir(path=str(on_path), search_glob=str(tmp_path / "lib/*/bin")) == on_path
    assert find_bin_dir(path="", search_glob=str(tmp_path / "lib/*/bin")) == v15
    assert v9.is_dir() and find_bin_dir(path="", search_glob=str(tmp_path / "none/*/bin")) is None
