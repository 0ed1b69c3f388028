from outcome_metrics.loader import LocatedDict, load_text


def test_load_attaches_line_numbers_to_mappings_and_keys():
    document, issues = load_text("metrics:\n  - name: a\n    label: A\n  - name: b\n", "metrics/x.yml")
    assert issues == []
    first, second = document.data["metrics"]
    assert isinstance(first, LocatedDict)
    assert (first.line, first.line_of("label"), second.line) == (2, 3, 4)


def test_load_reports_malformed_yaml_with_the_parser_line():
    _, issues = load_text("metrics:\n  - name: a\n    label: [unclosed\n", "metrics/x.yml")
    assert len(issues) == 1
    assert str(issues[0]).startswith("metrics/x.yml:4: error: malformed YAML:")


def test_load_reports_duplicate_keys():
    _, issues = load_text("metrics:\n  - name: a\n    name: b\n", "metrics/x.yml")
    assert "duplicate key 'name'" in str(issues[0])
    assert issues[0].line == 3
