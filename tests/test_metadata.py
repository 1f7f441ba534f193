"""The licence and citation files agree with pyproject.toml."""
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_is_the_license_pyproject_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole licence, not a stub


def test_citation_cff_cites_the_paper_and_the_project():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    for key in ("message", "title", "authors"):
        assert cff[key], key
    assert cff["license"] == project["license"]["text"] and cff["version"] == project["version"]
    paper = cff["preferred-citation"]
    assert paper["type"] == "conference-paper" and paper["year"] == 2021
    assert "Asymmetric Cycle-Consistency Loss" in paper["title"] and "Thigh MR Scans" in paper["title"]
    assert paper["authors"][0]["family-names"] == "Gadermayr"


PAPER_AUTHORS = [("Michael", "Gadermayr"), ("Maximilian", "Tschuchnig"), ("Dorit", "Merhof"), ("Nils", "Krämer"),
                 ("Daniel", "Truhn"), ("Burkhard", "Gess")]  # as arXiv 2004.11001 lists them


def test_citation_cff_names_the_software_as_pyproject_does():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["title"] == project["name"] == "mmac"
    assert isinstance(cff["version"], str)  # YAML would read a version like 0.10 as the number 0.1
    assert cff["version"] == project["version"] and cff["license"] == project["license"]["text"]


def test_citation_cff_cites_the_paper_with_all_six_authors_the_conference_and_arxiv():
    paper = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))["preferred-citation"]
    assert [(a["given-names"], a["family-names"]) for a in paper["authors"]] == PAPER_AUTHORS
    assert "ISBI" in paper["conference"]["name"] and "2021" in paper["conference"]["name"]
    assert "International Symposium on Biomedical Imaging" in paper["collection-title"]
    identifiers = {i["value"] for i in paper["identifiers"]}
    assert "arXiv:2004.11001" in identifiers and "https://arxiv.org/abs/2004.11001" in identifiers
