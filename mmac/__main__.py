"""``python -m mmac``: the command-line tools of the repository's ``tools/`` folder, one line each.

Reads each tool's purpose from its source (the first paragraph of a Python tool's docstring, the first comment
paragraph of a shell script) without running or importing it, so the listing needs neither torch nor mmagic.
"""
from __future__ import annotations

import ast
import shutil
import sys
import textwrap
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def first_paragraph(text: str) -> str:
    """The first paragraph of ``text`` as one line (its lines joined by spaces); ``''`` when empty."""
    lines = []
    for line in text.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


def script_purpose(path: Path) -> str:
    """A tool's purpose: the first paragraph of a ``.py`` file's docstring, or of the ``# `` comment block that
    opens a ``.sh`` file (after the ``#!`` line, up to a blank comment or an indented usage line)."""
    source = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".py":
        try:
            return first_paragraph(ast.get_docstring(ast.parse(source)) or "")
        except SyntaxError:
            return ""
    lines = []
    for line in source.splitlines()[1:]:
        if not line.startswith("# ") or line.startswith("#  "):
            break
        lines.append(line[2:].strip())
    return " ".join(lines)


def list_tools(folder: Path = TOOLS) -> list[tuple[str, str]]:
    """``(file name, purpose)`` of every ``*.py`` and then every ``*.sh`` in ``folder``, each sorted by name.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"no tools folder at {folder}: the tools live in the repository's tools/, which "
                                "an install from a wheel does not include; clone the repository to use them")
    scripts = sorted(folder.glob("*.py")) + sorted(folder.glob("*.sh"))
    return [(path.name, script_purpose(path)) for path in scripts if not path.name.startswith("_")]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] not in ("-h", "--help"):
        print(f"error: python -m mmac takes no arguments, got {' '.join(argv)}; it lists the tools, which run as "
              "python tools/NAME.py (or tools/NAME.sh)", file=sys.stderr)
        return 2
    try:
        tools = list_tools()
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    width = min(shutil.get_terminal_size((100, 20)).columns, 120)
    name_width = max(len(name) for name, _ in tools) + 2
    print(f"mmac tools, in {TOOLS} (run `python tools/NAME.py --help` for a tool's options):\n")
    for name, purpose in tools:
        body = textwrap.wrap(purpose or "(no description)", width=max(width - name_width - 2, 40))
        print(f"  {name:<{name_width}}{body[0]}")
        for line in body[1:]:
            print(f"  {'':<{name_width}}{line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
