"""tools/report.py --format: every figure also as PDF / SVG, written atomically; bad formats refused."""
import importlib.util
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import REPO
from tests.report.test_report import fabricated, write_results


def load_tool():
    spec = importlib.util.spec_from_file_location("report_tool", REPO / "tools" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_format_pdf_svg_writes_each_figure_in_each_format(tmp_path):
    folder = write_results(tmp_path / "cv", fabricated(phantom=True))
    assert load_tool().main([str(folder), "--format", "pdf", "svg"]) == 0
    out = folder / "report"
    for stem in ("boxplots", "fat_fraction"):
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert ET.parse(out / f"{stem}.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_default_writes_png_only(tmp_path):
    folder = write_results(tmp_path / "cv", fabricated(phantom=True))
    assert load_tool().main([str(folder)]) == 0
    assert sorted(p.suffix for p in (folder / "report").glob("boxplots.*")) == [".png"]


def test_unknown_format_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        load_tool().parse_args([str(tmp_path), "--format", "eps"])
    assert exc.value.code == 2 and "invalid choice: 'eps'" in capsys.readouterr().err


def test_make_report_names_the_extra_files(tmp_path):
    from mmac.report import make_report

    written = make_report(write_results(tmp_path / "cv", fabricated()), formats=("svg",))
    assert written["files"]["boxplots.svg"].is_file()
    with pytest.raises(ValueError, match=r"unknown figure format\(s\) \['tiff'\]; allowed: png, pdf, svg"):
        make_report(tmp_path / "cv", formats=("tiff",))
