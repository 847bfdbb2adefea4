"""The one safe reader (xpnet.io.read_npz / read_npy / open_regular) and its callers.

Every archive here is built byte by byte or with NumPy's own writers; the
references are the arrays written, the zip format's fields as the test sets
them, and NumPy's reader on the same bytes. Each family of bounds has its own
section: regular files only, the member count, the declared sizes, the .npy
header, shadowing names, and every caller (data sets, model files, the command).
"""

import io
import os
import stat
import struct
import zipfile

import numpy as np
import pytest

import xpnet
from xpnet import cli, datasets
from xpnet import io as xio
from xpnet.io import FileCheckError, MissingFileError, ReadLimitError, ReadLimits

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
import hypothesis.extra.numpy as hnp  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def raw_npy(header: str, data: bytes = b"", version: int = 1) -> bytes:
    """A .npy file with a header of our own text (padded as NumPy does)."""
    text = header.encode("latin-1")
    prefix = 10 if version == 1 else 12
    text += b" " * ((-(prefix + len(text) + 1)) % 64) + b"\n"
    length = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text + data


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """``members``: a list of (name, bytes) so that names may repeat."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def xy_members(n=3):
    return [
        ("X.npy", npy_bytes(np.arange(2.0 * n).reshape(n, 2))),
        ("y.npy", npy_bytes(np.zeros(n))),
    ]


# ---------------------------------------------------------------- regular files only

READERS = {
    "read_npz": xio.read_npz,
    "read_npy": xio.read_npy,
    "load_npz": datasets.load_npz,
    "load_csv": datasets.load_csv,
    "load_idx": datasets.load_idx,
}


def _directory(tmp_path):
    path = tmp_path / "data.npz"
    path.mkdir()
    return path, "a directory"


def _fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    path = tmp_path / "data.npz"
    os.mkfifo(path)  # nothing ever writes to it: opening it for reading blocks today
    return path, "named pipe"


def _dev_zero(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this platform")
    return "/dev/zero", "character device"


def _link_to_dev_zero(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this platform")
    path = tmp_path / "data.npz"
    path.symlink_to("/dev/zero")
    return path, "symbolic link to /dev/zero"


@pytest.mark.parametrize("reader", list(READERS), ids=list(READERS))
@pytest.mark.parametrize("make", [_directory, _fifo, _dev_zero, _link_to_dev_zero])
def test_only_regular_files_are_opened(tmp_path, reader, make):
    path, kind = make(tmp_path)
    with pytest.raises(FileCheckError, match=kind) as caught:
        READERS[reader](path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "regular file" in str(caught.value)


@pytest.mark.parametrize("reader", list(READERS), ids=list(READERS))
def test_a_missing_file_is_both_a_value_error_and_a_file_not_found_error(tmp_path, reader):
    path = tmp_path / "absent.npz"
    with pytest.raises(MissingFileError, match=r"absent\.npz: no such file") as caught:
        READERS[reader](path)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, FileNotFoundError)


def test_a_symlink_to_a_regular_file_is_followed(tmp_path):
    target = write_zip(tmp_path / "real.npz", xy_members())
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    np.testing.assert_array_equal(xio.read_npz(link)["X"], np.arange(6.0).reshape(3, 2))


def test_the_file_size_bound(tmp_path):
    path = write_zip(tmp_path / "data.npz", xy_members())
    size = path.stat().st_size
    assert set(xio.read_npz(path, limits=ReadLimits(max_file_bytes=size))) == {"X", "y"}
    with pytest.raises(ReadLimitError, match=rf"{size} bytes.*{size - 1}-byte.*max_file_bytes"):
        xio.read_npz(path, limits=ReadLimits(max_file_bytes=size - 1))


@pytest.mark.parametrize("field", ["max_members", "max_total_bytes", "max_header_bytes"])
@pytest.mark.parametrize("value", [-1, 1.5, True, "10"])
def test_read_limits_refuse_what_is_not_a_count(field, value):
    with pytest.raises(ValueError, match=f"ReadLimits.{field}"):
        ReadLimits(**{field: value})


def test_read_limits_are_frozen():
    with pytest.raises(AttributeError):
        ReadLimits().max_members = 10**9


# ---------------------------------------------------------------- the member count


def _forbid_zipfile(monkeypatch):
    """Make any parse of the central directory fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the central directory was parsed")

    monkeypatch.setattr(xio.zipfile, "ZipFile", refuse)


def test_too_many_members_are_refused_before_the_directory_is_parsed(tmp_path, monkeypatch):
    tiny = npy_bytes(np.zeros(1))
    path = write_zip(tmp_path / "many.npz", [(f"m{i:05d}.npy", tiny) for i in range(300)])
    _forbid_zipfile(monkeypatch)
    with pytest.raises(ReadLimitError, match=r"many\.npz.* 300 members.*100-member.*max_members"):
        xio.read_npz(path, limits=ReadLimits(max_members=100))


def test_the_count_error_is_short_and_lists_no_names(tmp_path):
    tiny = npy_bytes(np.zeros(1))
    path = write_zip(tmp_path / "many.npz", [(f"junk{i}.npy", tiny) for i in range(5000)])
    with pytest.raises(ReadLimitError) as caught:
        xio.read_npz(path)  # the default: 4096
    assert "5000 members" in str(caught.value) and "4096" in str(caught.value)
    assert "junk" not in str(caught.value) and len(str(caught.value)) < 400
    assert caught.value.limit == "max_members" and caught.value.value == 5000


def _set_end_record_count(path, count):
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<2H", data, at + 8, count, count)
    path.write_bytes(bytes(data))


def test_an_end_record_that_understates_the_count_is_caught_walking_the_directory(tmp_path):
    tiny = npy_bytes(np.zeros(1))
    path = write_zip(tmp_path / "liar.npz", [(f"m{i}.npy", tiny) for i in range(50)])
    _set_end_record_count(path, 1)
    with pytest.raises(ReadLimitError, match=r"end record says 1.*at least 11 members.*10-member"):
        xio.read_npz(path, limits=ReadLimits(max_members=10))


def test_zip64_end_records_are_counted(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(20):
            with zf.open(f"m{i}.npy", "w", force_zip64=True) as member:
                member.write(npy_bytes(np.full(2, i)))
    data = buffer.getvalue()
    if b"PK\x06\x06" not in data:  # this Python writes no zip64 end record for 20 members
        data = _with_zip64_end_record(data)
    path = tmp_path / "z64.npz"
    path.write_bytes(data)
    assert zipfile.ZipFile(path).testzip() is None  # a valid archive by zipfile's reading
    assert sorted(xio.read_npz(path), key=lambda k: int(k[1:])) == [f"m{i}" for i in range(20)]
    with pytest.raises(ReadLimitError, match="20 members"):
        xio.read_npz(path, limits=ReadLimits(max_members=19))
    # zipfile takes the zip64 record's numbers whatever the plain end record says: so does the count
    _set_end_record_count(path, 1)
    assert len(zipfile.ZipFile(path).infolist()) == 20
    with pytest.raises(ReadLimitError, match="the archive holds 20 members"):
        xio.read_npz(path, limits=ReadLimits(max_members=19))


def _with_zip64_end_record(data: bytes) -> bytes:
    """Insert a zip64 end record and locator before the end record, which then says 0xFFFF."""
    at = data.rfind(b"PK\x05\x06")
    _, _, _, _, count, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", data[at : at + 22])
    record = b"PK\x06\x06" + struct.pack(
        "<Q2H2L4Q", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset
    )
    locator = b"PK\x06\x07" + struct.pack("<LQL", 0, at, 1)
    end = bytearray(data[at:])
    struct.pack_into("<2H", end, 8, 0xFFFF, 0xFFFF)
    return data[:at] + record + locator + bytes(end)


# ---------------------------------------------------------------- declared sizes


def test_declared_sizes_beyond_the_total_are_refused_before_inflating(tmp_path, monkeypatch):
    zeros = npy_bytes(np.zeros(100_000))  # 800 kB that deflate to under 1 kB
    path = write_zip(tmp_path / "bomb.npz", [("X.npy", zeros)], zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 5_000

    def refuse(*args, **kwargs):
        raise AssertionError("a member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)
    with pytest.raises(
        ReadLimitError, match=rf"bomb\.npz.*declare.*{len(zeros)} bytes.*max_total_bytes"
    ):
        xio.read_npz(path, limits=ReadLimits(max_total_bytes=100_000))


def test_the_total_counts_every_member(tmp_path):
    members = [(f"a{i}.npy", npy_bytes(np.zeros(100))) for i in range(4)]  # 928 bytes each
    path = write_zip(tmp_path / "four.npz", members)
    each = len(members[0][1])
    assert len(xio.read_npz(path, limits=ReadLimits(max_total_bytes=4 * each))) == 4
    with pytest.raises(ReadLimitError, match=f"{4 * each} bytes"):
        xio.read_npz(path, limits=ReadLimits(max_total_bytes=4 * each - 1))


def _patch_declared_size(path, filename, new_size):
    """Rewrite a member's uncompressed size in its central directory entry and local header."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(filename)
    local = info.header_offset
    struct.pack_into("<L", data, local + 22, new_size)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        (name_len,) = struct.unpack_from("<H", data, central + 28)
        if data[central + 46 : central + 46 + name_len].decode() == filename:
            struct.pack_into("<L", data, central + 24, new_size)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_a_deflated_member_whose_declared_size_lies_is_refused(tmp_path, factor):
    x = npy_bytes(np.arange(5000.0))
    path = write_zip(tmp_path / "lies.npz", [("X.npy", x)], zipfile.ZIP_DEFLATED)
    _patch_declared_size(path, "X.npy", int(len(x) * factor))
    with pytest.raises(FileCheckError, match=r"lies\.npz.*X\.npy|lies\.npz.*damaged"):
        xio.read_npz(path)


def test_compressed_members_round_trip(tmp_path):
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 3
    path = tmp_path / "c.npz"
    np.savez_compressed(path, X=X, y=y)
    arrays = xio.read_npz(path)
    np.testing.assert_array_equal(arrays["X"], X)
    np.testing.assert_array_equal(arrays["y"], y)


def test_other_compression_methods_and_encryption_are_refused(tmp_path):
    path = write_zip(tmp_path / "bz.npz", xy_members(), zipfile.ZIP_BZIP2)
    with pytest.raises(FileCheckError, match="compression method 12"):
        xio.read_npz(path)
    plain = write_zip(tmp_path / "enc.npz", xy_members())
    data = bytearray(plain.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + flag_at] |= 0x1
            at = data.find(signature, at + 4)
    plain.write_bytes(bytes(data))
    with pytest.raises(FileCheckError, match="encrypted"):
        xio.read_npz(plain)


# ---------------------------------------------------------------- the .npy header


def test_a_header_longer_than_the_limit_is_refused_before_it_is_read(tmp_path):
    long_header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }" + " " * 20_000
    path = write_zip(tmp_path / "h.npz", [("X.npy", raw_npy(long_header, bytes(8), version=2))])
    with pytest.raises(ReadLimitError, match=r"'X\.npy'.*header.*10000-byte.*max_header_bytes"):
        xio.read_npz(path)
    assert xio.read_npz(path, limits=ReadLimits(max_header_bytes=30_000))["X"].tolist() == [0.0]


def test_a_huge_declared_shape_is_refused_before_any_allocation(tmp_path):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000,), }"
    path = write_zip(tmp_path / "huge.npz", [("X.npy", raw_npy(header, bytes(64)))])
    with pytest.raises(ReadLimitError, match=r"huge\.npz.*declares shape \(10000000000000,\)"):
        xio.read_npz(path)
    with pytest.raises(FileCheckError, match=r"80000000000000 bytes\) but stores 64"):
        xio.read_npz(path, limits=ReadLimits(max_array_bytes=2**60))


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", "stores 8 bytes"),
        ("not a dict at all", "unreadable .npy header"),
        ("{'descr': '<f8', 'shape': (1,), }", "descr, fortran_order and shape"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", "shape"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': 'many', }", "shape"),
        ("{'descr': '<f8', 'fortran_order': 'no', 'shape': (1,), }", "fortran_order"),
        ("{'descr': 'nonsense', 'fortran_order': False, 'shape': (1,), }", "dtype"),
        ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "Python objects"),
        ("{'descr': [('a', '|O')], 'fortran_order': False, 'shape': (1,), }", "Python objects"),
        ("(" * 4000 + ")" * 4000, "unreadable .npy header"),
    ],
)
def test_bad_headers_are_refused_naming_the_member(tmp_path, header, fragment):
    path = write_zip(tmp_path / "bad.npz", [("X.npy", raw_npy(header, bytes(8)))])
    with pytest.raises(FileCheckError, match=rf"bad\.npz: member 'X\.npy'.*{fragment}"):
        xio.read_npz(path)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x93NUMPY", b"junk bytes, not an array at all", b"\x93NUMPY\x09\x00\x10\x00"],
)
def test_junk_members_are_refused(tmp_path, data):
    path = write_zip(tmp_path / "junk.npz", [("X.npy", data)])
    with pytest.raises(FileCheckError, match=r"junk\.npz: member 'X\.npy'"):
        xio.read_npz(path)


def test_object_arrays_are_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "MARKER"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = write_zip(
        tmp_path / "evil.npz", [("X.npy", npy_bytes(np.array([Payload()], dtype=object)))]
    )
    with pytest.raises(FileCheckError, match="Python objects"):
        xio.read_npz(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=">i4").reshape(3, 4),
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.array(["ab", "cde"]),
        np.zeros((0, 5), np.float32),
        np.array(3.5),
        np.array([(1, 2.0)], dtype=[("a", "<i2"), ("b", "<f8")]),
    ],
    ids=["big-endian", "fortran", "strings", "empty", "scalar", "structured"],
)
def test_arrays_read_exactly_as_numpy_reads_them(tmp_path, array):
    path = tmp_path / "a.npz"
    np.savez(path, a=array)
    ours = xio.read_npz(path)["a"]
    with np.load(path, allow_pickle=False) as reference:
        theirs = reference["a"]
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert ours.flags.f_contiguous == theirs.flags.f_contiguous
    np.testing.assert_array_equal(ours, theirs)
    assert ours.flags.writeable


def test_version_2_and_3_headers_are_read(tmp_path):
    for version in (2, 3):
        data = raw_npy(
            "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }",
            b"\x01\x00\x02\x00\x03\x00",
            version,
        )
        path = tmp_path / f"v{version}.npy"
        path.write_bytes(data)
        assert xio.read_npy(path).tolist() == [1, 2, 3]
        assert np.load(path).tolist() == [1, 2, 3]  # NumPy agrees it is a valid file


def test_read_npy_checks_its_single_array_like_a_member(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.arange(5))
    np.testing.assert_array_equal(xio.read_npy(good), np.arange(5))
    short = tmp_path / "short.npy"
    short.write_bytes(good.read_bytes()[:-3])
    with pytest.raises(
        FileCheckError, match=r"short\.npy: the array declares shape \(5,\).*stores 37"
    ):
        xio.read_npy(short)


# ---------------------------------------------------------------- names that shadow each other


@pytest.mark.parametrize(
    "members",
    [
        [("X.npy", npy_bytes(np.zeros((2, 2)))), ("X", npy_bytes(np.zeros((2, 2))))],
        [("X.npy", npy_bytes(np.zeros((2, 2)))), ("X", b"junk bytes")],
        [("X", npy_bytes(np.zeros((2, 2)))), ("X.npy", raw_npy("{" * 9000))],
        [("X.npy", npy_bytes(np.zeros((2, 2)))), ("X.npy", npy_bytes(np.ones((2, 2))))],
    ],
    ids=["same-array", "junk-shadow", "huge-header-shadow", "same-name-twice"],
)
def test_names_that_shadow_each_other_are_refused(tmp_path, members):
    path = tmp_path / "shadow.npz"
    with (
        pytest.warns(UserWarning, match="Duplicate")
        if members[0][0] == members[1][0]
        else _nothing()
    ):
        write_zip(path, members + [("y.npy", npy_bytes(np.zeros(2)))])
    with pytest.raises(
        FileCheckError,
        match=r"shadow\.npz: members 'X(\.npy)?' and 'X(\.npy)?' both name the array 'X'",
    ):
        xio.read_npz(path)
    with pytest.raises(FileCheckError, match="shadow"):
        datasets.load_npz(path)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------- archive layouts (hypothesis)

_names = st.text(alphabet="abcdefghijXYZ_0123456789", min_size=1, max_size=8)
_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_, np.dtype(">i2")]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
_layouts = st.dictionaries(_names, _arrays, max_size=6)


@FAST
@given(layout=_layouts, compressed=st.booleans(), suffix=st.booleans())
def test_any_layout_of_plain_arrays_reads_back_exactly(tmp_path, layout, compressed, suffix):
    path = tmp_path / "layout.npz"
    members = [(name + (".npy" if suffix else ""), npy_bytes(a)) for name, a in layout.items()]
    write_zip(path, members, zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED)
    arrays = xio.read_npz(path)
    assert list(arrays) == list(layout)
    for name, expected in layout.items():
        assert arrays[name].dtype == expected.dtype and arrays[name].shape == expected.shape
        np.testing.assert_array_equal(arrays[name], expected)


@FAST
@given(layout=_layouts.filter(bool), data=st.data())
def test_any_layout_with_a_shadowing_pair_is_refused(tmp_path, layout, data):
    names = list(layout)
    victim = data.draw(st.sampled_from(names))
    members = [(name + ".npy", npy_bytes(a)) for name, a in layout.items()]
    at = data.draw(st.integers(0, len(members)))
    members.insert(at, (victim, data.draw(st.binary(max_size=64))))
    path = tmp_path / "shadowed.npz"
    write_zip(path, members)
    with pytest.raises(FileCheckError, match=f"both name the array '{victim}'"):
        xio.read_npz(path)


@FAST
@given(
    layout=_layouts,
    compressed=st.booleans(),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4
    ),
    cut=st.none() | st.floats(0, 1),
)
def test_damaged_archives_raise_only_the_readers_errors(tmp_path, layout, compressed, edits, cut):
    """Flipped bytes or a truncated file: a clean read or a FileCheckError, nothing else."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **layout)
    data = bytearray(buffer.getvalue())
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(data))
    try:
        arrays = xio.read_npz(path, limits=ReadLimits(max_total_bytes=2**20, max_array_bytes=2**20))
    except FileCheckError as error:
        assert str(error).startswith(f"{path}: ")
    else:
        assert all(isinstance(a, np.ndarray) for a in arrays.values())


# ---------------------------------------------------------------- every caller


def test_expect_reads_only_the_named_arrays(tmp_path):
    members = xy_members() + [
        ("big.npy", raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10,), }", bytes(8)))
    ]
    path = write_zip(tmp_path / "extra.npz", members)
    arrays = xio.read_npz(path, expect=("X",), optional=("y", "absent"))
    assert list(arrays) == ["X", "y"]  # the damaged 'big' was never read
    with pytest.raises(
        FileCheckError,
        match=r"missing array\(s\) Z; expected X, Z, the file has \['X', 'big', 'y'\]",
    ):
        xio.read_npz(path, expect=("X", "Z"))


def test_load_npz_reads_a_compressed_data_set_within_its_limits(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, X=np.zeros((1000, 10)), y=np.zeros(1000))
    assert datasets.load_npz(path)[0].shape == (1000, 10)
    with pytest.raises(ReadLimitError, match=r"d\.npz.*max_total_bytes"):
        datasets.load_npz(path, limits=ReadLimits(max_total_bytes=50_000))


def test_model_files_go_through_the_reader(tmp_path):
    X, y = datasets.make_moons(n_samples=40, seed=0)
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, backend="numpy").fit(X, y)
    path = tmp_path / "model.npz"
    clf.save(path)
    meta, arrays = xio.read_archive(path, xio.MODEL_FORMAT)
    assert set(arrays) == {"W0", "b0", "W1", "b1", "classes"}
    many = tmp_path / "many.npz"
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(many, "w") as out:
        for info in zf.infolist():
            out.writestr(info.filename, zf.read(info))
        for i in range(5000):
            out.writestr(f"pad{i}.npy", b"")
    with pytest.raises(ReadLimitError, match=r"many\.npz.*5006 members"):
        xpnet.MLPClassifier.load(many, backend="numpy")
    with pytest.raises(MissingFileError):
        xpnet.MLPClassifier.load(tmp_path / "absent.npz", backend="numpy")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    X, y = datasets.make_moons(n_samples=40, seed=0)
    xpnet.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, backend="numpy").fit(X, y).save(
        directory / "model.npz"
    )
    return directory / "model.npz"


def _huge_x(path):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 2), }"
    return write_zip(path, [("X.npy", raw_npy(header, bytes(16)))])


def _shadowed_x(path):
    return write_zip(path, [("X.npy", npy_bytes(np.zeros((2, 2)))), ("X", b"junk bytes")])


def _compressed_bomb(path):
    """A small deflated X whose entry declares 4 GiB - 1 uncompressed."""
    write_zip(path, [("X.npy", npy_bytes(np.zeros((1000, 2))))], zipfile.ZIP_DEFLATED)
    _patch_declared_size(path, "X.npy", 2**32 - 1)
    return path


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_huge_x, "declares shape"),
        (_shadowed_x, "both name the array 'X'"),
        (_compressed_bomb, "max_total_bytes"),
        (_fifo, "named pipe"),
    ],
    ids=["huge-declared-shape", "shadowed-member", "compressed-bomb", "fifo"],
)
def test_the_predict_command_reads_data_through_the_safe_reader(
    tmp_path, capsys, saved_model, make, fragment
):
    if make is _fifo:
        path, _ = _fifo(tmp_path)
    else:
        path = make(tmp_path / "data.npz")
    code = cli.main(["predict", "--model", str(saved_model), "--data", str(path)])
    err = capsys.readouterr().err
    assert code != 0
    assert "--data" in err and str(path) in err and fragment in err, err
    assert "Traceback" not in err and "MemoryError" not in err


def test_the_predict_command_reads_an_npz_without_labels(tmp_path, capsys, saved_model):
    X, _ = datasets.make_moons(n_samples=5, seed=1)
    path = tmp_path / "x.npz"
    np.savez_compressed(path, X=X)
    out = tmp_path / "pred.txt"
    assert (
        cli.main(
            ["predict", "--model", str(saved_model), "--data", str(path), "--output", str(out)]
        )
        == 0
    )
    expected = xpnet.MLPClassifier.load(saved_model, backend="numpy").predict(X)
    assert [int(float(v)) for v in out.read_text().split()] == expected.tolist()


def test_regular_file_checks_use_the_target_of_a_link(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with pytest.raises(
        FileCheckError, match=r"link\.csv: is a directory \(a symbolic link to .*dir\)"
    ):
        datasets.load_csv(link)
    assert stat.S_ISLNK(os.lstat(link).st_mode)  # the link itself was left alone
