"""Property tests: parse_header on arbitrary and mutated bytes.

Only InvalidSwapHeaderError may escape; anything accepted satisfies the
kernel's read_swap_header() rules; valid headers round-trip.
"""

from __future__ import annotations

import struct
import sys
import uuid
from typing import Literal, TypedDict

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from swapops.errors import InvalidSwapHeaderError
from swapops.header import (
    HIBERNATION_MAGICS,
    PAGE_SIZES,
    SWAP_MAGIC,
    SwapHeader,
    max_badpages,
    pack_header,
    parse_header,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL_PAGE_SIZES = (4096, 8192)  # 64 KiB pages cost more to generate; covered by unit tests
# labels util-linux can store: UTF-8, no NUL, at most 15 bytes
LABELS = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=15
).filter(lambda s: len(s.encode("utf-8")) <= 15)


def check_accepted(header: SwapHeader, file_size: int | None) -> None:
    """What any accepted header must satisfy (kernel read_swap_header + setup)."""
    assert header.page_size in PAGE_SIZES
    assert header.version == 1
    assert 1 <= header.last_page <= 0xFFFFFFFF
    assert 0 <= header.nr_badpages <= max_badpages(header.page_size)
    assert len(header.badpages) == header.nr_badpages
    assert all(0 < page <= header.last_page for page in header.badpages)
    assert 0 < header.usable_pages < header.nr_pages
    assert isinstance(header.uuid, uuid.UUID) and isinstance(header.label, str)
    if file_size is not None:
        assert header.nr_pages * header.page_size <= file_size


def parse_or_reject(data: bytes, page_size: int | None, file_size: int | None) -> None:
    try:
        header = parse_header(data, page_size=page_size, file_size=file_size, name="fuzz")
    except InvalidSwapHeaderError as exc:
        assert str(exc).startswith("fuzz: ")
        event("rejected: " + str(exc).split(":")[1].split()[0])
        return
    event("accepted" + (" byte-swapped" if header.byteswapped else ""))
    check_accepted(header, file_size)


@FAST
@given(
    data=st.binary(max_size=200) | st.binary(min_size=4096, max_size=8300),
    page_size=st.sampled_from((None, 4096, 8192)),
    file_size=st.none() | st.integers(min_value=-1, max_value=2**40),
)
def test_arbitrary_bytes(data: bytes, page_size: int | None, file_size: int | None) -> None:
    parse_or_reject(data, page_size, file_size)


@FAST
@given(
    blob=st.binary(max_size=4096 - 10 - 0x400),
    version=st.sampled_from((None, "<", ">")),
    file_size=st.none() | st.integers(min_value=0, max_value=2**46),
)
def test_arbitrary_fields_behind_a_valid_magic(
    blob: bytes, version: str | None, file_size: int | None
) -> None:
    """Random bytes from offset 0x400 on, with the magic in place (and maybe version 1)."""
    page = bytearray(4096)
    page[0x400 : 0x400 + len(blob)] = blob
    if version is not None:
        page[0x400:0x404] = struct.pack(f"{version}I", 1)
    page[4086:] = SWAP_MAGIC
    parse_or_reject(bytes(page), None, file_size)


@st.composite
def mutated_headers(draw: st.DrawFn) -> tuple[bytes, int | None, int | None]:
    """A valid header with a few fields, bytes or the magic changed, and a file size."""
    page_size = draw(st.sampled_from(SMALL_PAGE_SIZES))
    limit = max_badpages(page_size)
    last_page = draw(st.integers(1, 5000) | st.integers(1, 0xFFFFFFFF))
    badpages = draw(st.lists(st.integers(1, min(last_page, 5000)), max_size=8))
    page = bytearray(
        pack_header(
            page_size=page_size,
            last_page=last_page,
            uuid=uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
            label=draw(LABELS),
            badpages=badpages,
            byteorder=draw(st.sampled_from(("little", "big"))),
        )
    )
    u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)
    fields = {
        0x400: st.sampled_from((0, 1, 2, 0x01000000, 0xFFFFFFFF)) | u32,
        0x404: st.sampled_from((0, 1, 0xFFFFFFFF)) | u32,
        0x408: st.sampled_from((0, 1, limit, limit + 1, 0x01000000)) | u32,
        0x600: st.sampled_from((0, 1, last_page, last_page + 1)) | u32,
    }
    for _ in range(draw(st.sampled_from((0, 0, 1, 2, 4)))):
        offset = draw(st.sampled_from(sorted(fields)))
        value = draw(fields[offset])
        order = draw(st.sampled_from("<>"))
        page[offset : offset + 4] = struct.pack(f"{order}I", value)
    for _ in range(draw(st.sampled_from((0, 0, 1, 3, 6)))):
        # bytes anywhere that matters: fields, uuid/label, padding, bad pages, magic
        offset = draw(st.integers(0x400, 0x700) | st.integers(page_size - 12, page_size - 1))
        page[offset] = draw(st.integers(0, 255))
    if draw(st.integers(0, 3)) == 3:  # the simplest draw keeps the magic
        magic = draw(st.sampled_from((SWAP_MAGIC, b"SWAP-SPACE", *HIBERNATION_MAGICS)))
        page[page_size - 10 : page_size - 10 + len(magic)] = magic
    # mostly exactly one page; sometimes cut short, sometimes followed by more data
    shape = draw(st.sampled_from(("page", "page", "page", "longer", "cut")))
    if shape == "cut":
        data = bytes(page[: draw(st.integers(0, page_size - 1))])
    else:
        data = bytes(page) + (b"\xff" * 100 if shape == "longer" else b"")
    # mostly a file large enough for what the header claims, to reach the later checks
    needed = min(last_page + 1, 0xFFFFFFFF) * page_size
    file_size = draw(
        st.sampled_from((None, needed, needed + 1, needed - 1))
        | st.integers(page_size, needed * 2)
        | st.integers(0, page_size)
    )
    explicit = draw(st.none() | st.just(page_size))
    return data, explicit, file_size


@FAST
@given(case=mutated_headers())
def test_mutated_headers(case: tuple[bytes, int | None, int | None]) -> None:
    data, page_size, file_size = case
    parse_or_reject(data, page_size, file_size)


class Fields(TypedDict):
    page_size: int
    last_page: int
    uuid: uuid.UUID
    label: str
    badpages: tuple[int, ...]
    byteorder: Literal["little", "big"]


@st.composite
def valid_fields(draw: st.DrawFn) -> Fields:
    page_size = draw(st.sampled_from(SMALL_PAGE_SIZES))
    last_page = draw(st.integers(min_value=2, max_value=0xFFFFFFFF))
    label = draw(LABELS)
    badpages = draw(
        st.lists(
            st.integers(min_value=1, max_value=last_page),
            unique=True,
            max_size=min(20, last_page - 1),
        )
    )
    byteorder: Literal["little", "big"] = draw(st.sampled_from(("little", "big")))
    return Fields(
        page_size=page_size,
        last_page=last_page,
        uuid=uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
        label=label,
        badpages=tuple(badpages),
        byteorder=byteorder,
    )


@FAST
@given(fields=valid_fields())
def test_valid_headers_round_trip(fields: Fields) -> None:
    page = pack_header(**fields)
    header = parse_header(page)
    assert header == parse_header(page, page_size=header.page_size)
    assert (header.page_size, header.last_page, header.uuid, header.label, header.badpages) == (
        fields["page_size"],
        fields["last_page"],
        fields["uuid"],
        fields["label"],
        fields["badpages"],
    )
    assert header.byteorder == fields["byteorder"]
    assert header.byteswapped == (fields["byteorder"] != sys.byteorder)
    check_accepted(header, None)
    # writing back what we read gives the same bytes
    assert (
        pack_header(
            page_size=header.page_size,
            last_page=header.last_page,
            uuid=header.uuid,
            label=header.label,
            badpages=header.badpages,
            byteorder=header.byteorder,
        )
        == page
    )
