"""``python -m mmac`` (mmac/__main__.py): every tool, with its purpose, and nothing heavy imported."""
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("mmagic", "mmcv", "mmengine", "diffusers", "transformers", "torch")  # as tests/test_imports.py


def run_main(*args):
    return subprocess.run([sys.executable, "-m", "mmac", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={"COLUMNS": "200", "PATH": ""})


def entries(listing: str) -> dict:
    """The listing's ``name -> purpose``, the wrapped lines of each entry joined."""
    found, name = {}, None
    for line in listing.splitlines():
        if line.startswith("  ") and not line.startswith("   "):  # '  name   purpose...'
            name, _, text = line.strip().partition(" ")
            found[name] = text.strip()
        elif name and line.strip():
            found[name] += " " + line.strip()
    return found


def test_lists_every_tool_with_the_first_line_of_its_docstring():
    out = run_main()
    assert out.returncode == 0, out.stderr
    listed = entries(out.stdout)
    for tool in sorted((REPO / "tools").glob("*.py")):
        first = tool.read_text().split('"""', 2)[1].strip().splitlines()[0].strip()  # the docstring's first line
        assert tool.name in listed, f"{tool.name} missing from:\n{out.stdout}"
        assert listed[tool.name].startswith(first), (first, listed[tool.name])
    assert listed["dist_train.sh"] == "Multi-GPU / multi-node training on torchrun."
    assert "slurm_train.sh" in listed


def test_a_paragraph_over_two_lines_is_one_entry():
    from mmac.__main__ import list_tools

    purposes = dict(list_tools())
    assert purposes["demo.py"].startswith("The README's main job (CPU, under 10 minutes): make the synthetic demo")
    assert purposes["demo.py"].endswith("test them, write the report.")
    assert purposes["dist_test.sh"] == "Multi-GPU / multi-node testing on torchrun."  # not the usage line after it


def test_imports_nothing_heavy():
    probe = ("import sys, json, contextlib, io\n"
             "import mmac.__main__ as m\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    rc = m.main([])\n"
             f"print(json.dumps([rc, sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r}))]))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, []]


@pytest.mark.parametrize("argv", [["train"], ["--bogus"]])
def test_arguments_are_refused_with_one_error_line(argv):
    out = run_main(*argv)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: python -m mmac takes no arguments") and out.stderr.count("\n") == 1


def test_a_missing_tools_folder_is_one_error(tmp_path):
    from mmac.__main__ import list_tools

    with pytest.raises(FileNotFoundError, match="no tools folder at .*clone the repository"):
        list_tools(tmp_path / "tools")
