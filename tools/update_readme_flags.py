"""Rewrites this repository's README.md flag table from the Config fields.

Shim for ``python tools/update_readme_flags.py`` (from anywhere); the tool is
the console script ``limitbatch-update-readme-flags`` (setup.cfg), whose
main() is in limitbatch_tf/cli/update_readme_flags.py.
"""
import os
import sys

from limitbatch_tf.cli.update_readme_flags import main

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "README.md")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or [README]))
