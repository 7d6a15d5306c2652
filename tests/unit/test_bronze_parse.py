"""Bronze parsing of raw CSV text and ingestion planning (no Spark)."""

from __future__ import annotations

import io

import pytest

from bronze.landing import REJECTED, ChangedFileError, LandingFile, LoggedFile, plan_ingestion
from bronze.parse import FileFormatError, map_header, parse_lines

ALIASES = {
    "invoice": ["Invoice", "InvoiceNo"],
    "quantity": ["Quantity"],
    "price": ["Price", "UnitPrice"],
    "customer_id": ["Customer ID", "CustomerID"],
}
REQUIRED = ["invoice", "quantity", "price"]


def parse(text: str, **kwargs) -> list[dict]:
    batches = parse_lines(io.StringIO(text, newline=""), source="f.csv", aliases=ALIASES,
                          required=REQUIRED, **kwargs)
    rows = []
    for batch in batches:
        rows += [{k: v[i] for k, v in batch.items()} for i in range(len(batch["_source_file"]))]
    return rows


def test_fields_are_kept_as_strings_chosen_by_header_name():
    rows = parse("Price,Customer ID,Invoice,Quantity\r\n 6.95,13085.0,C489434,-12\r\n")
    assert rows == [{
        "invoice": "C489434", "quantity": "-12", "price": " 6.95", "customer_id": "13085.0",
        "_corrupt_record": None, "_rescued": None, "_source_file": "f.csv",
        "_row_number": 1, "_line_number": 2,
    }]


def test_quoted_commas_quotes_and_newlines_are_one_record():
    rows = parse('Invoice,Quantity,Price\n"1,2","say ""hi""\nthere",3\n4,5,6\n')
    assert [(r["invoice"], r["quantity"], r["_line_number"]) for r in rows] == [
        ("1,2", 'say "hi"\nthere', 2), ("4", "5", 4)]


def test_wrong_field_counts_keep_the_raw_line_and_blank_lines_are_not_records():
    rows = parse("Invoice,Quantity,Price\n1,2\n\n1,2,3,4\n5,6,7\n")
    assert [r["_corrupt_record"] for r in rows] == ["1,2", "1,2,3,4", None]
    assert [r["_row_number"] for r in rows] == [1, 2, 3]
    assert [r["_line_number"] for r in rows] == [2, 4, 5]
    assert rows[0]["invoice"] is None and rows[2]["invoice"] == "5"


def test_unexpected_columns_are_rescued_and_missing_optional_ones_are_null():
    rows = parse("Invoice,Quantity,Price,Channel,\nA,1,2,web,x\n")
    assert rows[0]["_rescued"] == '{"Channel": "web", "_c4": "x"}'
    assert rows[0]["customer_id"] is None


def test_empty_fields_are_null():
    rows = parse("Invoice,Quantity,Price,Customer ID\nA,1,2,\n")
    assert rows[0]["customer_id"] is None


def test_original_online_retail_headers_map_to_the_same_columns():
    rows = parse("InvoiceNo,Quantity,UnitPrice,CustomerID\n536365,6,2.55,17850\n")
    assert (rows[0]["invoice"], rows[0]["price"], rows[0]["customer_id"]) == (
        "536365", "2.55", "17850")


def test_empty_and_header_only_input_have_no_records():
    assert parse("") == []
    assert parse("Invoice,Quantity,Price\r\n") == []


def test_batches_are_bounded():
    text = "Invoice,Quantity,Price\n" + "".join(f"{i},1,1\n" for i in range(25))
    batches = list(parse_lines(io.StringIO(text), source="f", aliases=ALIASES,
                               required=REQUIRED, batch_rows=10))
    assert [len(b["invoice"]) for b in batches] == [10, 10, 5]


def test_a_header_without_required_columns_is_a_clear_error():
    with pytest.raises(FileFormatError, match=r"f\.csv.*lacks required column.*'price'"):
        parse("Invoice,Quantity,Amount\n1,2,3\n")
    with pytest.raises(FileFormatError, match="repeats column"):
        map_header(["Price", "UnitPrice", "Invoice", "Quantity"], ALIASES, REQUIRED, "g.csv")


def test_an_unclosed_quote_beyond_the_field_limit_names_the_line_where_it_starts():
    text = "Invoice,Quantity,Price\n1,2,3\n\n4,\"x\n" + ("y" * 1000 + "\n") * 200
    with pytest.raises(FileFormatError, match=r"^f\.csv: the record starting at line 4 has "
                                              r"a field longer than 131,072 characters"):
        parse(text)


def test_nul_and_other_control_characters_are_kept():
    rows = parse('Invoice,Quantity,Price\n"a\x00b",\x07,\x00\n')
    assert (rows[0]["invoice"], rows[0]["quantity"], rows[0]["price"]) == ("a\x00b", "\x07",
                                                                          "\x00")


def landing(path: str, sha: str) -> LandingFile:
    return LandingFile(path, f"/l/{path}", 10, 0, sha)


def test_plan_ingests_only_new_files_and_skips_known_ones():
    logged = [LoggedFile("a.csv", "h1", "batch-000001")]
    plan = plan_ingestion([landing("a.csv", "h1"), landing("b.csv", "h2")], logged)
    assert [f.path for f in plan.ingest] == ["b.csv"]
    assert [f.path for f in plan.unchanged] == ["a.csv"]


def test_plan_refuses_a_changed_file_unless_asked_to_reingest():
    logged = [LoggedFile("a.csv", "h1", "batch-000001")]
    with pytest.raises(ChangedFileError, match=r"a\.csv: ingested in batch-000001"):
        plan_ingestion([landing("a.csv", "h9")], logged)
    plan = plan_ingestion([landing("a.csv", "h9")], logged, on_changed_file="reingest")
    assert [f.path for f in plan.ingest] == ["a.csv"] and "ingested again" in plan.notes[0]


def test_plan_skips_a_copy_of_an_ingested_file_by_default():
    logged = [LoggedFile("a.csv", "h1", "batch-000001")]
    plan = plan_ingestion([landing("copy.csv", "h1")], logged)
    assert plan.ingest == () and "same content as a.csv" in plan.notes[0]
    kept = plan_ingestion([landing("copy.csv", "h1")], logged, on_duplicate_content="ingest")
    assert [f.path for f in kept.ingest] == ["copy.csv"]


def test_plan_reads_a_rejected_file_again_fixed_or_unchanged():
    logged = [LoggedFile("a.csv", "h1", "batch-000001"),
              LoggedFile("a.csv", "h2", "batch-000002", REJECTED, "not valid utf-8 at byte 9"),
              LoggedFile("b.csv", "h3", "batch-000002", REJECTED, "is a zip archive")]
    # a.csv: fixed after its rejection (not a changed file); b.csv: as it was (retried)
    plan = plan_ingestion([landing("a.csv", "h4"), landing("b.csv", "h3")], logged)
    assert [f.path for f in plan.ingest] == ["a.csv", "b.csv"]
    assert [(f.path, k.reason) for f, k in plan.retried] == [("b.csv", "is a zip archive")]
    # rejected content is not in bronze: a copy of it is no duplicate
    plan = plan_ingestion([landing("c.csv", "h3")], logged)
    assert [f.path for f in plan.ingest] == ["c.csv"] and plan.retried == ()
    # fixed back to the content ingested before: the same content as batch-000001
    plan = plan_ingestion([landing("a.csv", "h1")], logged)
    assert plan.ingest == () and "same content as a.csv (batch-000001)" in plan.notes[0]
