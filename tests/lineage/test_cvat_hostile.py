"""Hostile and broken CVAT files: every refusal names the file, line and element, and nothing comes back
half-parsed (``parse_cvat`` raises; it never returns part of a batch)."""

from __future__ import annotations

import pytest

from lineage.formats.common import MAX_ATTRIBUTE_STRING, ImportInvalid
from tests.lineage.test_cvat_reader import parse

META = "<meta><job><id>1</id><assignee><username>u</username></assignee></job></meta>"


def doc(body: str, *, name: str = "street/a.jpg", prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{prolog}\n<annotations><version>1.1</version>{META}\n'
        f'<image id="0" name="{name}" width="640" height="480">\n{body}\n</image>\n</annotations>'
    ).encode()


def refused(data: bytes, **kw: object) -> ImportInvalid:
    with pytest.raises(ImportInvalid) as err:
        parse(data, **kw)
    return err.value


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


def test_billion_laughs_refused_at_its_line() -> None:
    err = refused(doc('<box label="&lol3;" xtl="1" ytl="1" xbr="2" ybr="2"/>', prolog=BILLION_LAUGHS))
    assert err.field is not None and err.field.startswith("f.xml:1:") and "document type declaration" in err.message


def test_external_entity_xxe_refused() -> None:
    xxe = '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    err = refused(
        doc('<box label="car" xtl="1" ytl="1" xbr="2" ybr="2"><attribute name="n">&x;</attribute></box>', prolog=xxe)
    )
    assert "refused" in err.message and "passwd" not in str(err)


def test_undefined_entity_is_malformed_xml_with_line_and_column() -> None:
    err = refused(doc('<box label="&x;" xtl="1" ytl="1" xbr="2" ybr="2"/>'))
    assert err.field == "f.xml:4:1" and err.message == "malformed XML (undefined entity)"


def test_truncated_file() -> None:
    err = refused(doc('<box label="car"')[:-30])
    assert err.message.startswith("malformed XML") and err.field is not None and err.field.startswith("f.xml:")


def test_file_over_the_size_bound() -> None:
    err = refused(doc(""), max_bytes=100)
    assert "larger than the 100 bytes" in err.message


def test_deep_nesting_refused() -> None:
    err = refused(doc("<a>" * 40 + "</a>" * 40))
    assert "nest deeper than 32" in err.message


def test_huge_attribute_string_refused_naming_the_element() -> None:
    big = "x" * (MAX_ATTRIBUTE_STRING + 1)
    err = refused(
        doc(f'<box label="car" xtl="1" ytl="1" xbr="2" ybr="2"><attribute name="note">{big}</attribute></box>')
    )
    assert err.field == "f.xml:4: <box label='car'>" and "attribute string" in err.message


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ('<box label="car" xtl="1" ytl="nan" xbr="2" ybr="2"/>', "expected a number for ytl, got 'nan'"),
        ('<box label="car" xtl="1" ytl="1e999" xbr="2" ybr="2"/>', "expected a finite number for ytl"),
        ('<box label="car" xtl="1" ytl="abc" xbr="2" ybr="2"/>', "expected a number for ytl, got 'abc'"),
        ('<box label="car" xtl="1" ytl="1_0" xbr="2" ybr="20"/>', "expected a number for ytl"),
        ('<box label="car" xtl="1" ytl="1" xbr="2"/>', "expected attribute ybr"),
        ('<box label="car" xtl="5" ytl="1" xbr="2" ybr="2"/>', "positive width and height"),
        ('<box label="car" xtl="1" ytl="1" xbr="641" ybr="2"/>', "1 px past its 640 px edge"),
        ('<polygon label="road" points="1,1;2;3,3"/>', "point 1 is '2', expected \"x,y\""),
        ('<polygon label="road" points="1,1;2,2"/>', "needs at least 3"),
        ('<box label="car" occluded="yes" xtl="1" ytl="1" xbr="2" ybr="2"/>', "expected occluded 0 or 1"),
        ('<box label="car" z_order="top" xtl="1" ytl="1" xbr="2" ybr="2"/>', "expected z_order as an integer"),
        ('<box label="truck" xtl="1" ytl="1" xbr="2" ybr="2"/>', "class 'truck' is not in the schema"),
        ('<box xtl="1" ytl="1" xbr="2" ybr="2"/>', "expected label= with the class"),
        ('<box label="car" source="robot" xtl="1" ytl="1" xbr="2" ybr="2"/>', "source 'robot'"),
        ('<cuboid label="car"/>', "cuboid has no geometry"),
        ('<box label="car" xtl="1" ytl="1" xbr="2" ybr="2"><attribute name="made">x</attribute></box>', "reserved"),
        ('<mask label="puddle" rle="1, 2" left="0" top="0" width="2" height="2"/>', "add up to 3 pixels"),
        ('<mask label="puddle" rle="4" left="0" top="0" width="2" height="2"/>', "mask is empty"),
        ('<mask label="puddle" rle="1, x" left="0" top="0" width="2" height="1"/>', "non-negative integers"),
        ('<mask label="puddle" rle="0, 4" left="639" top="0" width="2" height="2"/>', "passes the image's edge"),
        ('<skeleton label="person"><points label="ear" points="1,1"/></skeleton>', "'ear' is not one of"),
        ('<skeleton label="person"><points label="nose" outside="1" points="1,1"/></skeleton>', "no labelled keypoint"),
    ],
)
def test_bad_shapes_name_their_line_and_element(shape: str, message: str) -> None:
    err = refused(doc(shape))
    assert message in err.message
    assert err.field is not None and err.field.startswith("f.xml:4: <")


def test_image_not_in_version_and_wrong_size() -> None:
    err = refused(doc("", name="elsewhere/z.jpg"))
    assert err.field == "f.xml:3: <image id='0' name='elsewhere/z.jpg'>"
    assert "'elsewhere/z.jpg' is not in dataset version street@v1" in err.message
    wrong = doc("").replace(b'width="640"', b'width="641"')
    assert "width 641 differs from the image's 640 px" in refused(wrong).message


def test_checkbox_and_number_values_checked_against_the_spec() -> None:
    meta = (
        "<meta><job><id>1</id><assignee><username>u</username></assignee><labels><label><name>car</name>"
        "<attributes><attribute><name>parked</name><input_type>checkbox</input_type></attribute>"
        "<attribute><name>n</name><input_type>number</input_type></attribute></attributes></label></labels>"
        "</job></meta>"
    )
    box = '<box label="car" xtl="1" ytl="1" xbr="2" ybr="2"><attribute name="{}">{}</attribute></box>'
    for attr, value, message in (("parked", "maybe", "expected true or false"), ("n", "many", "expected a number")):
        data = doc(box.format(attr, value)).replace(META.encode(), meta.encode())
        assert message in refused(data).message


def test_every_problem_listed_and_nothing_returned() -> None:
    body = "\n".join(f'<box label="truck{i}" xtl="1" ytl="1" xbr="2" ybr="2"/>' for i in range(3))
    err = refused(doc(body))
    assert [p.where for p in err.problems] == [f"f.xml:{4 + i}: <box label='truck{i}'>" for i in range(3)]
    assert "(and 2 more problems)" in str(err)


def test_tracks_and_wrong_roots_refused() -> None:
    track = doc("").replace(b"<image", b'<track id="0" label="car"></track><image')
    assert "CVAT for video" in refused(track).message
    assert "expected a CVAT <annotations> root" in refused(b"<svg/>").message
    assert "expected <meta>" in refused(b"<annotations/>").message
    dup = doc("").replace(
        b"</annotations>", b'<image id="0" name="street/b.jpg" width="640" height="480"/></annotations>'
    )
    assert "a second <image>" in refused(dup).message
