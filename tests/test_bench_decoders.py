"""``cinemap bench --decoders``: the decoder rows, on small cases and (slow) end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import uid

from viewer.benchmarks import decoder_tables, decoders
from viewer.model.codecs.choice import GIL_FREE
from viewer.synthetic.codestreams import encode_frames

ROOT = Path(__file__).parents[1]


def _case(syntax, **kwargs) -> decoders.Case:
    encoded = encode_frames(syntax, 2, 64, 48, **kwargs)
    return decoders.Case(encoded.description, encoded.transfer_syntax, encoded.options, encoded.frames)


def test_plugin_row_has_every_plugin_the_chosen_one_and_the_floor():
    row = decoders.measure_plugins(_case(uid.JPEGBaseline8Bit), 0.01)
    assert row["chosen"] == "pillow" and isinstance(row["chosen_ms"], float)
    assert {"pillow", "pylibjpeg"} <= set(row["plugins"]) and {"Pillow", "libjpeg"} <= set(row["raw"])
    numbers = {**row["plugins"], **row["raw"]}
    assert row["floor_ms"] == min(value for value in numbers.values() if isinstance(value, float))
    assert row["ratio_to_floor"] == pytest.approx(row["chosen_ms"] / row["floor_ms"], rel=0.01)


def test_a_plugin_that_cannot_decode_is_reported_not_fatal():
    case = _case(uid.JPEGLSLossless, bits_stored=12)
    row = decoders.measure_plugins(case, 0.01)
    assert row["chosen"] == "pyjpegls"
    assert str(row["raw"]["libjpeg"]).startswith("fails: ")  # libjpeg has no 12-bit JPEG-LS here


def test_gil_rows_say_what_the_table_assumes():
    rows = decoders.measure_gil(_case(uid.JPEGBaseline8Bit), 0.05)
    assert [row["reference"] for row in rows[:2]] == [True, True]
    assert {row["plugin"] for row in rows} >= {"pillow", "pylibjpeg"}
    for row in rows[2:]:
        assert row["table_releases_gil"] == ((row["plugin"], uid.JPEGBaseline8Bit) in GIL_FREE)
        assert 0.0 <= row["blocked"] <= 1.0


def test_reduced_rows_give_the_actual_factor():
    row = decoders.measure_reduced(_case(uid.JPEGBaseline8Bit), 0.01)
    assert [row[factor]["actual"] for factor in ("2", "4", "8")] == [2, 4, 8]


@pytest.mark.slow
def test_decoders_command_end_to_end():
    completed = subprocess.run(
        [sys.executable, "-m", "viewer", "bench", "--decoders", "--json", "--decoder-seconds", "0.02"],
        capture_output=True, text=True, timeout=1200, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)["decoders"]
    labels = [row["label"] for row in result["plugins"]]
    assert "JPEG Baseline 1024x1024 grey" in labels and "JPEG 2000 lossless 1024x1024 16-bit" in labels
    assert all(isinstance(row.get("ratio_to_floor"), float) for row in result["plugins"])
    assert [row["label"] for row in result["pool"]] == decoders.POOL_CASES
    for row in result["pool"]:
        assert row["pool_1"]["fps"] > 0 and row["pool_2"]["fps"] > 0
    text = decoder_tables.format_text(result)
    for heading in ("Decoders:", "GIL:", "Decode pool:", "Reduced decodes"):
        assert heading in text
