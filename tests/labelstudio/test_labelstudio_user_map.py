"""The ``--users`` file of ``labelgate pull labelstudio``: a JSON object or two CSV columns; anything else is
refused naming the file (and line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage.errors import InvalidInput
from service.cli.connectors import read_user_map


def test_json_and_csv_maps(tmp_path: Path) -> None:
    as_json = tmp_path / "users.json"
    as_json.write_text('{"7": "alice", "bob@example.com": "robert"}')
    assert read_user_map(as_json) == {"7": "alice", "bob@example.com": "robert"}
    as_csv = tmp_path / "users.csv"
    as_csv.write_text("tool_user,labelgate_user\n7,alice\n\nbob@example.com, robert\n")
    assert read_user_map(as_csv) == {"7": "alice", "bob@example.com": "robert"}


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("u.json", '{"7": 3}', "u.json"),
        ("u.json", '{"7": "alice",}', "u.json:1:"),
        ("u.csv", "7,alice\n8\n", "u.csv:2"),
        ("u.csv", "7,alice,extra\n", "u.csv:1"),
    ],
)
def test_malformed_maps_are_refused_naming_the_place(tmp_path: Path, name: str, content: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidInput) as caught:
        read_user_map(path)
    assert where in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the user map"):
        read_user_map(tmp_path / "none.json")
