"""Statistician exports (issue #5): long and wide, every manifest column, filters, unapproved plates, the data
dictionary, xlsx sheets and provenance, formula neutralisation, Parquet types, and streaming in chunks."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from labdb import export as export_module
from labdb.cli import app
from labdb.core.db import session_scope
from labdb.core.errors import InputError
from labdb.core.models import Plate, RawFile, Result
from labdb.export import (
    ExportFilters,
    export_frame,
    iter_export,
    parse_when,
    plan_export,
    write_export,
)
from labdb.ingest import IngestRequest, Upload, ingest_upload
from labdb.review import decide
from labdb.samples import import_manifest, season_of, set_site
from labdb.templates import load_plate_map, load_template
from qc.manifest import MANIFEST_COLUMNS

runner = CliRunner()
NOTE = '=HYPERLINK("http://x","y")'
REQUIRED = [
    "sample_id",
    "subject_id",
    "visit",
    "sample_type",
    "plate_id",
    "kit_lot",
    "operator",
    "bdnf_pg_ml",
    "bdnf_pg_ml_corrected",
    "censoring",
    "lloq_pg_ml",
    "uloq_pg_ml",
    "cv_pct",
    "n_replicates",
    "qc_flags",
    "plate_status",
    "season",
    "collection_time",
    "raw_file_sha256",
    "curve_model",
    "curve_engine",
]


@pytest.fixture
def study_db(db_url, small_study, tmp_path):
    """Sites, a manifest with two extra columns and a formula in a note, three plates ingested, two approved."""
    study, paths = small_study
    manifest = pd.read_csv(paths["manifest"], dtype=str, keep_default_na=False)
    plate_map = pd.read_csv(paths["plate_map"], dtype=str, keep_default_na=False)
    on_plate_1 = plate_map.loc[
        (plate_map["plate"] == study.plates[0].name) & plate_map["sample_id"].isin(manifest["sample_id"]), "sample_id"
    ]
    noted = on_plate_1.iloc[0]
    manifest["freezer_box"] = [f"BOX-{i // 20}" for i in range(len(manifest))]
    manifest["consent_version"] = ""
    manifest.loc[manifest["sample_id"] == noted, ["notes", "consent_version"]] = [NOTE, "v2"]
    path = tmp_path / "manifest_with_extras.csv"
    manifest.to_csv(path, index=False)
    template, pmap = load_template(paths["template"]), load_plate_map(paths["plate_map"])
    with session_scope(db_url) as session:
        for site in study.sites.itertuples(index=False):
            set_site(session, site.site_code, site.hemisphere, site.name, "tester")
        import_manifest(session, path, "tech")
        plate_ids = []
        for file in paths["plates"][:3]:
            plate_ids += [
                pid
                for pid, _, _ in ingest_upload(
                    session, Upload.from_path(file), IngestRequest(template, pmap, "L2301", "KM", actor="tech")
                ).plates
            ]
    with session_scope(db_url) as session:
        decide(session, plate_ids[:2], "approved", "dr.pi", "fine for the test")
    return {"url": db_url, "manifest": manifest, "noted": noted, "approved": plate_ids[:2], "plates": plate_ids}


def _frame(url, **kwargs) -> pd.DataFrame:
    with session_scope(url) as session:
        return export_frame(session, **kwargs)


def test_long_export_has_every_column_and_only_approved_plates(study_db):
    url = study_db["url"]
    df = _frame(url)
    assert set(REQUIRED) <= set(df.columns)
    assert set(MANIFEST_COLUMNS) <= set(df.columns)  # every known manifest column
    assert {"freezer_box", "consent_version"} <= set(df.columns)  # and the file's own columns
    assert set(df["plate_id"]) == set(study_db["approved"]) and set(df["plate_status"]) == {"approved"}
    with session_scope(url) as session:
        n_results = len(session.exec(select(Result.id).where(Result.role == "sample", Result.plate_id.in_(study_db["approved"]))).all())
        shas = dict(session.exec(select(Plate.id, Plate.file_sha256)).all())
        stored = set(session.exec(select(RawFile.sha256)).all())
    assert len(df) == n_results
    assert all(df["raw_file_sha256"] == df["plate_id"].map(shas)) and set(df["raw_file_sha256"]) <= stored
    assert df["bdnf_pg_ml_corrected"].isna().all()
    assert set(df["censoring"]) <= {"none", "below_lloq", "above_uloq"}
    assert (df["curve_engine"].str.len() > 0).all() and set(df["curve_model"]) <= {"4pl", "5pl"}


def test_manifest_columns_round_trip_into_the_export(study_db):
    df = _frame(study_db["url"])
    manifest = study_db["manifest"].set_index("sample_id")
    linked = df[df["subject_id"].notna()].set_index("sample_id")
    assert len(linked) > 0
    for column in ("subject_id", "visit", "site", "sex", "diagnosis", "freezer_box"):
        assert (linked[column] == manifest.loc[linked.index, column]).all(), column
    assert (linked["platelet_count"] == manifest.loc[linked.index, "platelet_count"].astype(float)).all()
    written = pd.to_datetime(manifest.loc[linked.index, "collected_at"])
    assert (linked["collected_at"] == written).all()
    assert (linked["collection_time"] == written.dt.strftime("%H:%M")).all()
    hemispheres = {"AMS": "north", "SYD": "south"}
    expected = [season_of(w, hemispheres[s]) for w, s in zip(linked["collected_at"], linked["site"], strict=True)]
    assert linked["season"].tolist() == expected
    assert linked.loc[study_db["noted"], "notes"] == NOTE and linked.loc[study_db["noted"], "consent_version"] == "v2"
    others = linked.drop(index=study_db["noted"])
    assert others["consent_version"].isna().all()  # an empty cell stays empty
    unlinked = df[df["subject_id"].isna()]  # sample IDs on the plates that are in no manifest (typos) come out bare
    assert set(unlinked["sample_id"]).isdisjoint(set(manifest.index))


def test_include_unapproved_adds_other_plates_with_their_status(study_db):
    approved = _frame(study_db["url"])
    everything = _frame(study_db["url"], include_unapproved=True)
    assert set(everything["plate_id"]) == set(study_db["plates"]) and len(everything) > len(approved)
    assert set(everything.loc[~everything["plate_id"].isin(study_db["approved"]), "plate_status"]) == {"evaluated"}


def test_filters_site_sample_type_and_dates(study_db):
    url = study_db["url"]
    every = _frame(url, include_unapproved=True).dropna(subset=["subject_id"])

    def run(**kw):
        return _frame(url, filters=ExportFilters(include_unapproved=True, **kw))

    assert set(run(sites=("SYD",))["site"]) == {"SYD"} and len(run(sites=("SYD",))) == (every["site"] == "SYD").sum()
    edta = run(sample_types=("EDTA plasma",))  # synonyms work here too
    assert set(edta["sample_type"]) == {"plasma_edta"} and len(edta) == (every["sample_type"] == "plasma_edta").sum()
    day = every["collected_at"].sort_values().iloc[len(every) // 2].normalize()
    since, until = run(since=day), run(until=parse_when(day.strftime("%Y-%m-%d"), end=True))
    assert (since["collected_at"] >= day).all() and len(since) == (every["collected_at"] >= day).sum()
    assert len(until) == (every["collected_at"] < day + pd.Timedelta(days=1)).sum()  # --until DATE includes that day
    assert len(since) + len(until) == len(every) + (every["collected_at"].dt.normalize() == day).sum()
    with session_scope(url) as session, pytest.raises(InputError, match="--site AMX: no such site. Did you mean AMS"):
        plan_export(session, ExportFilters(sites=("AMX",)))
    with session_scope(url) as session, pytest.raises(InputError, match="--sample-type saliva"):
        plan_export(session, ExportFilters(sample_types=("saliva",)))


def test_wide_export_one_row_per_subject_and_visit(study_db):
    url = study_db["url"]
    long = _frame(url, include_unapproved=True).dropna(subset=["subject_id"])
    wide = _frame(url, filters=ExportFilters(include_unapproved=True), wide=True)
    assert not wide.duplicated(["subject_id", "visit"]).any()
    assert len(wide) == len(long.drop_duplicates(["subject_id", "visit"]))
    assert {
        "bdnf_pg_ml_serum",
        "bdnf_pg_ml_plasma_edta",
        "censoring_serum",
        "sample_id_plasma_edta",
        "n_measurements_serum",
        "storage_days_serum",
        "freezer_box",
        "season",
    } <= set(wide.columns)
    indexed = wide.set_index(["subject_id", "visit"])
    for (subject, visit, stype), group in long.groupby(["subject_id", "visit", "sample_type"]):
        row = indexed.loc[(subject, visit)]
        in_range = group.loc[(group["censoring"] == "none") & group["bdnf_pg_ml"].notna(), "bdnf_pg_ml"]
        if len(in_range):
            assert row[f"bdnf_pg_ml_{stype}"] == pytest.approx(in_range.mean())
            assert row[f"censoring_{stype}"] == "none"
        assert row[f"n_measurements_{stype}"] == len(group)
        assert row[f"sample_id_{stype}"] == ";".join(dict.fromkeys(group["sample_id"]))
        assert row["collected_at"] <= group["collected_at"].min()  # the visit's earliest collection


def test_streaming_in_small_chunks_gives_the_same_rows(study_db, tmp_path):
    url = study_db["url"]
    filters = ExportFilters(include_unapproved=True)
    for wide in (False, True):
        with session_scope(url) as session:
            plan = plan_export(session, filters, wide)
            chunks = list(iter_export(session, plan, chunk_rows=7))
            whole = list(iter_export(session, plan, chunk_rows=100_000))
        assert len(chunks) > 3 and len(whole) <= 2  # wide: the last visit is held back until the rows end
        small, big = pd.concat(chunks, ignore_index=True), pd.concat(whole, ignore_index=True)
        assert len(small) == plan.rows
        pd.testing.assert_frame_equal(small, big)
        for chunk in chunks:
            assert chunk.dtypes.equals(big.dtypes)
    with session_scope(url) as session:
        write_export(session, tmp_path / "small.parquet", filters, chunk_rows=7)
    assert pq.ParquetFile(tmp_path / "small.parquet").metadata.num_row_groups > 3
    pd.testing.assert_frame_equal(_plain(pd.read_parquet(tmp_path / "small.parquet")), _plain(_frame(url, include_unapproved=True)))


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns with None for every kind of missing value (Parquet reads text back as str, None as NaN)."""
    return df.astype(object).where(df.notna(), None)


def test_parquet_types_are_sensible(study_db, tmp_path):
    out = tmp_path / "bdnf.parquet"
    assert runner.invoke(app, ["export", "--out", str(out)]).exit_code == 0
    schema = pq.read_schema(out)
    types = {name: str(schema.field(name).type) for name in schema.names}
    for name in ("bdnf_pg_ml", "bdnf_pg_ml_corrected", "lloq_pg_ml", "cv_pct", "age", "platelet_count", "storage_days"):
        assert types[name] == "double", name
    for name in ("plate_id", "n_replicates", "freeze_thaw_cycles"):
        assert types[name] == "int64", name
    for name in ("collected_at", "read_time"):
        assert types[name].startswith("timestamp"), name
    for name in ("fasting", "smoking", "platelet_poor"):
        assert types[name] == "bool", name
    assert types["sample_id"] == types["freezer_box"] == "string"
    df = pd.read_parquet(out)
    assert df.loc[df["sample_id"] == study_db["noted"], "notes"].iloc[0] == NOTE  # Parquet keeps the text as written
    meta = schema.metadata
    provenance = json.loads(meta[b"labdb.provenance"])
    assert provenance["filter_plates"] == "approved only" and provenance["rows"] == str(len(df))
    assert {p["plate_id"] for p in json.loads(meta[b"labdb.plates"])} == set(study_db["approved"])


def test_csv_neutralises_formulas(study_db, tmp_path):
    out = tmp_path / "bdnf.csv"
    assert runner.invoke(app, ["export", "--out", str(out)]).exit_code == 0
    text = out.read_text()
    assert "'=HYPERLINK(" in text and ",=HYPERLINK(" not in text and ',"=HYPERLINK(' not in text
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert df.loc[df["sample_id"] == study_db["noted"], "notes"].iloc[0] == "'" + NOTE
    for column in df.columns:
        assert not df[column].str.startswith(("=", "+", "@", "\t", "\r")).any(), column


def test_xlsx_has_data_dictionary_and_provenance_sheets(study_db, tmp_path):
    out = tmp_path / "bdnf.xlsx"
    result = runner.invoke(app, ["export", "--out", str(out), "--site", "AMS", "--site", "SYD", "--since", "2000-01-01"])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["data", "dictionary", "provenance"]
    formulas = [c.coordinate for ws in book for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    data = book["data"]
    header = [c.value for c in data[1]]
    notes = [row[header.index("notes")] for row in data.iter_rows(min_row=2)]
    cell = next(c for c in notes if c.value and "HYPERLINK" in c.value)
    assert cell.value == "'" + NOTE and cell.data_type != "f"
    sheets = pd.read_excel(out, sheet_name=None, engine="openpyxl")
    dictionary = sheets["dictionary"]
    assert dictionary["column"].tolist() == header
    provenance = pd.read_excel(out, sheet_name="provenance", engine="openpyxl", nrows=40, header=None)
    items = dict(zip(provenance[0], provenance[1], strict=True))
    assert items["filter_sites"] == "AMS, SYD" and items["filter_collected_since"] == "2000-01-01 00:00"
    assert items["database"].startswith(("sqlite", "postgresql")) and items["exported_by"]
    assert "qc.curves" in items["curve_engine_versions"] and items["labdb_version"]
    start = provenance.index[provenance[0] == "plate_id"][0]
    plates = pd.read_excel(out, sheet_name="provenance", engine="openpyxl", skiprows=start)
    with session_scope(study_db["url"]) as session:
        shas = dict(session.exec(select(Plate.id, Plate.file_sha256).where(Plate.id.in_(study_db["approved"]))).all())
    assert dict(zip(plates["plate_id"], plates["raw_file_sha256"], strict=True)) == shas


def test_xlsx_refuses_too_many_rows_and_leaves_no_file(study_db, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "XLSX_MAX_ROWS", 5)
    out = tmp_path / "big.xlsx"
    with session_scope(study_db["url"]) as session, pytest.raises(InputError, match=r"too many for xlsx.*\.csv or \.parquet"):
        write_export(session, out)
    assert list(tmp_path.glob("big.xlsx*")) == []


def test_dictionary_documents_every_column_with_units(study_db, tmp_path):
    url = study_db["url"]
    for wide in (False, True):
        with session_scope(url) as session:
            plan = plan_export(session, ExportFilters(include_unapproved=True), wide)
        frame = _frame(url, filters=ExportFilters(include_unapproved=True), wide=wide)
        assert [c.name for c in plan.columns] == list(frame.columns)
        assert all(c.meaning and c.kind for c in plan.columns)
    units = {c.name: c.unit for c in _columns(url)}
    assert units["bdnf_pg_ml"] == units["lloq_pg_ml"] == "pg/mL" and units["platelet_count"] == "10^9/L"
    assert units["cv_pct"] == "%" and units["age"] == "years" and units["storage_days"] == "days"
    printed = runner.invoke(app, ["export", "--dictionary"])
    assert printed.exit_code == 0 and "bdnf_pg_ml_corrected" in printed.output and "freezer_box" in printed.output
    target = tmp_path / "dictionary.csv"
    assert runner.invoke(app, ["export", "--dictionary", "--wide", "--out", str(target)]).exit_code == 0
    assert "bdnf_pg_ml_serum" in set(pd.read_csv(target)["column"])


def _columns(url):
    """The default (long) export's columns."""
    with session_scope(url) as session:
        return plan_export(session).columns


def test_cli_export_options(study_db, tmp_path):
    wide = tmp_path / "wide.csv"
    result = runner.invoke(
        app,
        ["export", "-o", str(wide), "--wide", "--study", "SYD", "--sample-type", "serum", "--until", "2030-12-31", "--include-unapproved"],
    )
    assert result.exit_code == 0, result.output
    df = pd.read_csv(wide)
    assert set(df["site"]) == {"SYD"} and "bdnf_pg_ml_serum" in df and "bdnf_pg_ml_plasma_edta" not in df
    assert "rows from" in result.output
    assert runner.invoke(app, ["export"]).exit_code == 2
    bad = runner.invoke(app, ["export", "-o", str(tmp_path / "x.json")])
    assert bad.exit_code == 2 and "x.json" in bad.stderr
    bad_date = runner.invoke(app, ["export", "-o", str(tmp_path / "x.csv"), "--since", "31/12/2024"])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.stderr
