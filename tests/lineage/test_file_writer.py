"""``FileWriter`` (how YOLO and VOC exports write their 100k files, on a few threads): every file written
with its bytes, in folders it makes; a failure is raised when the writer closes, never lost; and a VOC file
made with ``ET.tostring`` is byte for byte the file ``ElementTree.write`` made before."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lineage.formats.common import FileWriter


def test_every_file_is_written_with_its_bytes(tmp_path: Path) -> None:
    expected = {tmp_path / f"d{n % 7}" / f"sub{n % 3}" / f"{n}.txt": f"file {n}\n".encode() for n in range(3000)}
    with FileWriter(threads=4, backlog=50) as files:
        for path, data in expected.items():
            files.write(path, data)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.txt")} == expected


def test_a_failed_write_is_raised_when_the_writer_closes(tmp_path: Path) -> None:
    (tmp_path / "taken.txt").mkdir()  # a folder where the file should be: the thread's write fails
    with pytest.raises(IsADirectoryError), FileWriter(threads=2) as files:
        files.write(tmp_path / "ok.txt", b"fine")
        files.write(tmp_path / "taken.txt", b"cannot")
        files.write(tmp_path / "after.txt", b"still written")
    assert (tmp_path / "ok.txt").read_bytes() == b"fine"


def test_a_voc_file_is_the_bytes_element_tree_wrote(tmp_path: Path) -> None:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = "été & <b>.jpg"
    box = ET.SubElement(ET.SubElement(root, "object"), "bndbox")
    ET.SubElement(box, "xmin").text = "1.5"
    ET.indent(root)
    ET.ElementTree(root).write(tmp_path / "before.xml", encoding="utf-8", xml_declaration=True)
    with FileWriter() as files:
        files.write(tmp_path / "now.xml", ET.tostring(root, encoding="utf-8", xml_declaration=True))
    assert (tmp_path / "now.xml").read_bytes() == (tmp_path / "before.xml").read_bytes()
