"""Rewrites README.md's flag table from the Config fields.

Usage: python tools/update_readme_flags.py
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from limitbatch_tf.flags import flag_reference_markdown  # noqa: E402

BEGIN, END = "<!-- flags:begin -->", "<!-- flags:end -->"


def main():
    path = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "README.md")
    text = open(path).read()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        sys.exit(f"{path}: no {BEGIN} ... {END} block")
    text = pattern.sub(lambda _: f"{BEGIN}\n{flag_reference_markdown()}\n{END}",
                       text)
    open(path, "w").write(text)


if __name__ == "__main__":
    main()
