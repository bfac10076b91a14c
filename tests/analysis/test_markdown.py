"""analysis/markdown.py: tables and the generated part of a REPORT.md."""
import pytest

from limitbatch_tf.analysis import markdown


def test_table():
    assert markdown.table(("a", "b"), [(1, "x"), (2.5, None)]) == (
        "| a | b |\n| --- | --- |\n| 1 | x |\n| 2.5 | None |\n")


def test_replace_generated_keeps_the_prose_and_creates_new_reports(tmp_path):
    path = tmp_path / "REPORT.md"
    markdown.replace_generated(str(path), "first", "Title")
    assert path.read_text() == (f"# Title\n\n{markdown.BEGIN}\nfirst\n"
                                f"{markdown.END}\n")
    path.write_text(f"intro\n{markdown.BEGIN}\nold\n{markdown.END}\noutro\n")
    markdown.replace_generated(str(path), "new", "Title")
    assert path.read_text() == (f"intro\n{markdown.BEGIN}\nnew\n"
                                f"{markdown.END}\noutro\n")
    path.write_text("no markers\n")
    with pytest.raises(markdown.MarkersError, match="lacks the"):
        markdown.replace_generated(str(path), "new", "Title")
    assert path.read_text() == "no markers\n"
