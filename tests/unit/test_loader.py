from outcome_metrics.spec.loader import LocatedDict, load, load_text


def test_load_attaches_line_numbers_to_mappings_and_keys():
    document, issues = load_text("metrics:\n  - name: a\n    label: A\n  - name: b\n", "metrics/x.yml")
    assert issues == []
    first, second = document.data["metrics"]
    assert isinstance(first, LocatedDict)
    assert (first.line, first.line_of("label"), second.line) == (2, 3, 4)


def test_load_reports_malformed_yaml_with_the_parser_line():
    _, issues = load_text("metrics:\n  - name: a\n    label: [unclosed\n", "metrics/x.yml")
    assert len(issues) == 1
    assert str(issues[0]).startswith("metrics/x.yml:3:12: error: malformed YAML:")  # where '[' opens


def test_load_reports_duplicate_keys():
    _, issues = load_text("metrics:\n  - name: a\n    name: b\n", "metrics/x.yml")
    assert "duplicate key 'name'" in str(issues[0])
    assert issues[0].line == 3


def test_load_reports_a_control_character_with_its_line():
    _, issues = load_text("metrics:\n  - name: a\n    label: b\x07c\n", "metrics/x.yml")
    assert [str(issue) for issue in issues] == [
        "metrics/x.yml:3: error: character U+0007 is not allowed in YAML (remove it)"
    ]


def test_load_reports_a_file_that_is_not_utf8_and_reads_the_others(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "a.yml").write_bytes(b"metrics:\n  - name: caf\xe9\n")
    (metrics / "b.yml").write_text("metrics:\n  - name: b\n", encoding="utf-8")
    documents, issues = load(metrics)
    assert [str(issue) for issue in issues] == [
        "metrics/a.yml:2: error: not UTF-8 text: byte 0xe9 (save the file as UTF-8)"
    ]
    assert [document.path for document in documents] == ["metrics/b.yml"]
