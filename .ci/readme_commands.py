"""Print the set-up commands of README.md, one per line: the lines of the first fenced
``bash`` block after the ``<!-- setup -->`` marker. CI runs exactly these."""

import sys
from pathlib import Path


def setup_commands(readme: str) -> list[str]:
    marker = readme.find("<!-- setup -->")
    if marker < 0:
        raise SystemExit("README.md has no '<!-- setup -->' marker before its set-up commands")
    lines = readme[marker:].splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "```bash") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "```")
    return [line.strip() for line in lines[start:end] if line.strip() and not line.strip().startswith("#")]


if __name__ == "__main__":
    for command in setup_commands(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md").read_text()):
        print(command)
