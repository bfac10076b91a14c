"""Rewrites README.md's flag table from the Config fields.

Usage, from the repository root: limitbatch-update-readme-flags [README.md]
(or python tools/update_readme_flags.py, which finds the repository's
README.md wherever it is run from).
"""
import re
import sys

from limitbatch_tf.flags import flag_reference_markdown

BEGIN, END = "<!-- flags:begin -->", "<!-- flags:end -->"


def main(argv=None):
    """Rewrites the table in ``argv[0]`` (default README.md); 0, or 2 when
    the file lacks the markers."""
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else "README.md"
    try:
        text = open(path).read()
    except OSError as e:
        print(f"error: {path}: {e.strerror}", file=sys.stderr)
        return 2
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        print(f"error: {path}: no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    text = pattern.sub(lambda _: f"{BEGIN}\n{flag_reference_markdown()}\n{END}",
                       text)
    with open(path, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
