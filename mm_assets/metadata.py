"""What the UI shows of an asset or a check: tables, intervals, one-line reasons, per-tenant plots."""

import dagster as dg


def md_table(header: list[str], rows: list[list]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def with_ci(row: dict, metric: str) -> str:
    if metric not in row:
        return "-"
    lo, hi = row.get(f"{metric}_ci", [row[metric], row[metric]])
    return f"{row[metric]:.3f} [{lo:.3f}, {hi:.3f}]"


def one_line(reasons: list[str], passed_text: str, limit: int = 3) -> str:
    """A check's description: why it failed (the first reasons), or what passing means."""
    if not reasons:
        return passed_text
    more = f" (+{len(reasons) - limit} more)" if len(reasons) > limit else ""
    return "; ".join(reasons[:limit]) + more


def check_result(name: str, passed: bool, description: str, metadata: dict,
                 severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    """A check result with its reason as the description and its figures as numeric metadata."""
    return dg.AssetCheckResult(check_name=name, passed=bool(passed), description=description, severity=severity,
                               metadata={k: v for k, v in metadata.items() if v is not None})


def tenant_series(tenant: str, cell: str, figures: dict) -> dict:
    """Numeric metadata named by tenant and cell, so the UI plots one line per tenant (a partitioned
    asset's plots otherwise mix every tenant's points in one series)."""
    return {f"{tenant}/{cell}/{k}": float(v) for k, v in figures.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
