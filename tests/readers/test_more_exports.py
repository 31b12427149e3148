"""The exports in ../shared/fixtures/plate_exports_more, well by well against a peer's reading (allotropy).

Each endpoint file must read, and every well must agree with FILE.allotropy.json (tests/readers/peer.py says how
wells are matched). PENDING lists the files that do not read yet, each with the exact reason: they must be refused
whole in one line (never read in part or silently short); the unsupported
program's file must be refused with a one-line message, never claimed by another reader's guess.
"""

from __future__ import annotations

import pytest
from peer import differences, listed_files, peer_reads

from conftest import PLATE_EXPORTS_MORE
from labdb.core.errors import InputError
from labdb.readers.registry import detect, read_plates

FILES = listed_files(PLATE_EXPORTS_MORE) if PLATE_EXPORTS_MORE.is_dir() else {}
ENDPOINT = sorted(f for f, (scope, _) in FILES.items() if scope == "endpoint")
UNSUPPORTED = sorted(f for f, (scope, _) in FILES.items() if scope == "unsupported")

# Files that do not read as the peer does yet (issue 13), with why. Remove a file when its reader reads it.
PENDING: dict[str, str] = {
    "moldev_softmax_pro/abs_endpoint_plates.txt": "three raw reads at 426 nm (a repeated wavelength); the canonical form "
    "holds one read per well and wavelength until reads carry labels, so it is refused by name (its Path? cell no "
    "longer refuses it: relabelled in memory, all 288 wells agree with the peer)",
}


# Where our reading rightly differs from the peer's (the export wins, SOURCES.md): file -> (peer wavelength -> ours,
# why). Every well is still compared, on our wavelength.
WAVELENGTHS: dict[str, tuple[dict, str]] = {
    "perkin_elmer_envision/PE_Envision_absorbance_example01.csv": (
        {None: 562},
        "the label 'BCA Absorbance @ 562' says 'Excitation wavelength 562 nm' (a monochromator read); the peer takes "
        "wavelengths only from filter centre wavelengths, so it reads this absorbance without one",
    ),
}


def test_every_file_in_the_folder_is_listed(plate_exports_more):
    present = {
        str(p.relative_to(plate_exports_more))
        for p in plate_exports_more.rglob("*")
        if p.is_file() and p.name != "SOURCES.md" and not p.name.endswith(".allotropy.json")
    }
    assert present == set(FILES), "SOURCES.md and the folder disagree"
    assert len(ENDPOINT) == 16 and len(UNSUPPORTED) == 1


@pytest.mark.parametrize("name", ENDPOINT)
def test_endpoint_files_read_as_the_peer_reads_them(plate_exports_more, name):
    path = plate_exports_more / name
    data = path.read_bytes()
    if name in PENDING:  # not read yet: refused whole, in one line, never read in part (PENDING says why)
        with pytest.raises(InputError) as err:
            read_plates(data, path.name)
        assert str(err.value).startswith(path.name) and "\n" not in str(err.value)
        return
    assert detect(data, path.name).FORMAT == FILES[name][1], "claimed by the wrong reader"
    plates = read_plates(data, path.name)
    assert differences(plates, peer_reads(path), WAVELENGTHS.get(name, ({}, ""))[0]) == []


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_unsupported_software_is_refused_in_one_line(plate_exports_more, name):
    path = plate_exports_more / name
    with pytest.raises(InputError) as err:
        read_plates(path.read_bytes(), path.name)
    assert str(err.value).startswith(path.name) and "\n" not in str(err.value)
