"""Operations: the Go/No-Go report over what the store recorded."""

from maestro_helix.ops.report import (
    GO_SHARE,
    ReportData,
    Verdict,
    build_report,
    render_html,
    verdict_for,
)

__all__ = ["GO_SHARE", "ReportData", "Verdict", "build_report", "render_html", "verdict_for"]
