"""A fuzzing campaign: seeds, mutants, a run through the harness, a report.

Mutant ``i`` of a campaign with seed ``S`` depends only on ``S``, ``i`` and
the seed files, so any failure can be regenerated alone with
:func:`make_mutant`.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.harness import Result, Runner
from fuzz.layout import DEFLATED, Layout, parse_layout
from fuzz.mutators import mutate

MAX_SEED_BYTES = 1 << 20
BATCH = 64
REGRESSIONS = Path(__file__).parent / "regressions"

SYNTHETIC = {
    "synthetic-u8": dict(frames=5, rows=24, columns=32, bits_allocated=8),
    "synthetic-u16": dict(frames=4, rows=20, columns=24, bits_allocated=16),
    "synthetic-s16-implicit": dict(frames=3, rows=16, columns=16, bits_allocated=16, signed=True, implicit_vr=True),
    "synthetic-u16-bigendian": dict(frames=3, rows=16, columns=20, bits_allocated=16, big_endian=True),
    "synthetic-u8-bigendian": dict(frames=3, rows=15, columns=17, bits_allocated=8, big_endian=True),
    "synthetic-rgb-planar0": dict(frames=3, rows=16, columns=16, bits_allocated=8, samples_per_pixel=3),
    "synthetic-rgb-planar1": dict(
        frames=3, rows=16, columns=16, bits_allocated=8, samples_per_pixel=3, planar_configuration=1
    ),
    "synthetic-us": dict(frames=4, rows=32, columns=32, bits_allocated=8, kind="us"),
}


@dataclass(frozen=True)
class Seed:
    """A file mutants are made from."""

    name: str
    data: bytes
    layout: Layout
    weight: int


def write_synthetic_seeds(folder: Path) -> list[Path]:
    """Small synthetic cines (native 8/16-bit, colour planar 0/1, big endian) and enhanced multi-frame files."""
    from viewer.synthetic import write_cine

    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_cine(folder / f"{name}.dcm", **options) for name, options in SYNTHETIC.items()]
    paths += [write_enhanced(folder / f"{name}.dcm", **options) for name, options in ENHANCED.items()]
    return paths + [write_deflated(paths[0], folder / "synthetic-u8-deflated.dcm")]


def write_deflated(source: Path, path: Path) -> Path:
    """`source` re-encoded with the Deflated Explicit VR Little Endian transfer syntax."""
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    dataset = pydicom.dcmread(source)
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    dataset.save_as(path, enforce_file_format=True)
    return path


ENHANCED = {
    # At least functional_groups.LAZY_MIN_FRAMES frames: the sequence is parsed on demand.
    "enhanced-lazy-undefined": dict(frames=120, undefined=True, implicit=False),
    "enhanced-lazy-defined-implicit": dict(frames=110, undefined=False, implicit=True),
    "enhanced-small-undefined": dict(frames=4, undefined=True, implicit=False),
}


def write_enhanced(path: Path, frames: int, undefined: bool, implicit: bool) -> Path:
    """A small enhanced multi-frame seed (12-bit, per-frame rescale and window), fixed UIDs."""
    from viewer.synthetic.enhanced import write_enhanced as build

    return build(path, frames, undefined_lengths=undefined, implicit_vr=implicit, bits_stored=12, window=True,
                 sop_instance_uid="1.2.3.4.5.6.7.8.9")


def load_seeds(synthetic_folder: Path) -> list[Seed]:
    """Reference files under 1 MiB and the synthetic files, in a fixed order."""
    from reference_files import reference_files

    paths = [path for path in reference_files() if path.stat().st_size < MAX_SEED_BYTES]
    paths += write_synthetic_seeds(synthetic_folder)
    seeds = []
    for path in paths:
        data = path.read_bytes()
        if not data:
            continue
        layout = parse_layout(data)
        # Files with pixel data exercise most of the model; synthetic ones are the cine case itself.
        has_pixels = layout.pixel is not None or layout.transfer_syntax == DEFLATED  # the walker stops at deflate
        weight = 6 if path.parent == synthetic_folder else 3 if has_pixels else 1
        seeds.append(Seed(f"{path.parent.name}/{path.name}", data, layout, weight))
    return seeds


def make_mutant(seeds: list[Seed], campaign_seed: int, index: int) -> tuple[Seed, bytes, str]:
    """Mutant number `index` of the campaign `campaign_seed`: (seed, bytes, label)."""
    rng = random.Random(f"{campaign_seed}:{index}")
    seed = rng.choices(seeds, [s.weight for s in seeds])[0]
    data, label = mutate(rng, seed.data, seed.layout)
    return seed, data, label


def file_name(seed: Seed, label: str, index: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9._+-]", "_", Path(seed.name).stem)[:40]
    return f"{stem}--{re.sub(r'[^A-Za-z0-9._+-]', '_', label)[:80]}--{index}.dcm"


@dataclass
class Report:
    """Counts and failures of one campaign."""

    seed: int
    mutants: int = 0
    outcomes: Counter = field(default_factory=Counter)
    failures: list[tuple[Result, str]] = field(default_factory=list)  # (result, what made it)
    slowest: float = 0.0
    slowest_origin: str = ""

    def count(self, outcome: str) -> int:
        return self.outcomes[outcome]

    def lines(self) -> list[str]:
        counts = ", ".join(f"{name} {self.outcomes[name]}" for name in ("ok", "dicom", "crash", "hang", "other"))
        lines = [
            f"fuzz seed {self.seed}: {self.mutants} mutants: {counts}; "
            f"slowest {self.slowest:.2f} s ({self.slowest_origin})"
        ]
        for result, origin in self.failures:
            lines.append(f"  FAIL {origin}: {result.summary()}")
        return lines


def run_campaign(
    seeds: list[Seed], campaign_seed: int, count: int, workdir: Path, runner: Runner, save: Path | None = None
) -> Report:
    """Check `count` mutants; failing ones are kept in `save` (or in `workdir`)."""
    report = Report(campaign_seed)
    keep = save or workdir / "failures"
    keep.mkdir(parents=True, exist_ok=True)
    for start in range(0, count, BATCH):
        batch = []
        for index in range(start, min(start + BATCH, count)):
            seed, data, label = make_mutant(seeds, campaign_seed, index)
            path = workdir / file_name(seed, label, index)
            path.write_bytes(data)
            batch.append((path, f"seed {campaign_seed} mutant {index} ({seed.name}: {label})"))
        for (path, origin), result in zip(batch, runner.run([str(p) for p, _ in batch])):
            report.mutants += 1
            report.outcomes[result.outcome] += 1
            if result.seconds > report.slowest:
                report.slowest, report.slowest_origin = result.seconds, origin
            if result.failed:
                kept = keep / path.name
                kept.write_bytes(path.read_bytes())
                result.path = str(kept)
                report.failures.append((result, origin))
            path.unlink()
    return report
