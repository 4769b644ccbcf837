"""The sweep report: one static HTML page per results store that answers "which model do I flash?".

The page must open anywhere — a laptop without network, a CI artifact, a mail attachment — so it
carries everything inline: CSS in the head, plots as SVG images in data URIs (matplotlib draws text
as paths, so no font is needed either) and no script at all. The front is written beside it as
CSV and Parquet for anyone who wants to compute with it.

Three jobs, three modules: `_report_data` gathers what the page shows from a `ParetoFront`,
`_report_page` (with `_report_plots`) renders it from `templates/report.html.j2`, and this module
writes the files. Every file is rendered in memory first; on a local disk the whole report is then
written into a fresh sibling folder and switched into place in one step (an atomic exchange of the
two folders where the system has one), so a crash leaves the previous report or the new one, never
a mix. On an object store, which has no folders to switch, each file is one atomic put, the page
last.
"""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone
from pathlib import Path

from lut_store import InputError, storage

from ._pareto import ParetoFront
from ._report_data import Links, front_table, load_reference, page_context, summary
from ._report_page import render_page

__all__ = ["FILES", "PAPER_REFERENCE", "build_report", "load_reference"]

PAPER_REFERENCE = Path(__file__).with_name("reference") / "paper.yaml"
FILES = ("front.csv", "front.parquet", "index.html")  # the page last: it is the entry point


def build_report(storage_url: str, out: str, *, metric: str = "macro_f1",
                 reference: str | Path | None = PAPER_REFERENCE, flash: bool = False,
                 sweep: str | None = None) -> dict:
    """Read a results store, write `index.html`, `front.csv` and `front.parquet` into `out`, and
    return a summary (what `micronas report --json` prints)."""
    from ._store import ResultsStore

    started = time.perf_counter()
    store = ResultsStore(storage_url)
    points = load_reference(reference) if reference is not None else []
    rows = store.read(sweep=sweep)
    if rows.empty:
        where = f" for sweep {sweep!r}" if sweep else ""
        raise InputError(f"{storage_url}: no trial rows in the results store{where} (nothing to report)")
    front = ParetoFront(rows, metric=metric, flash=flash)
    budgets = front.budgets()
    out = out.rstrip("/") or out
    links = Links(store, out)
    table = front_table(front)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = render_page(page_context(front, budgets, points, store.url, links, sweep, generated))
    write_report(out, {"front.csv": table.to_csv(index=False).encode(),
                       "front.parquet": _parquet(table), "index.html": page.encode()})
    return summary(front, budgets, out, time.perf_counter() - started)


def _parquet(table) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), sink, compression="zstd")
    return sink.getvalue()


# --- writing ----------------------------------------------------------------------------------

def write_report(out: str, files: dict[str, bytes]) -> None:
    """Put the report's files at `out`: all of them or (after a crash) none of them. The report
    folder is replaced as a whole, so it must hold nothing but a report."""
    try:
        storage.replace_folder(out, {name: files[name] for name in FILES}, what="a report")
    except InputError:
        raise
    except OSError as exc:
        raise _write_error(out, exc) from None


def _write_error(out: str, exc: OSError) -> InputError:
    import errno
    if isinstance(exc, PermissionError):
        return InputError(f"{out}: permission denied")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InputError(f"{out}: no space left on the device (nothing was written)")
    if exc.errno == errno.EROFS:
        return InputError(f"{out}: read-only file system")
    return InputError(f"{out}: cannot write the report ({exc.strerror or exc})")
