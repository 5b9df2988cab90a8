"""Dashboards declared as data: one YAML file each, loaded into dataclasses and checked before anything runs.

Every problem is reported in one line that names the file and the field, e.g.
``finance.yaml: widgets[2] (cost_split).type: 'barchart' is not one of kpi-card, bar-chart, ...``.
Widget SQL must parse as one read-only query (the warehouse's SQL gate decides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analytics_pipeline.currencies import is_currency_code
from analytics_pipeline.lake.views import views_read
from analytics_pipeline.serving.sql_runner import QueryError, to_duckdb_sql
from analytics_pipeline.sources.registry import SOURCE_NAMES

SHIPPED_DIR = Path(__file__).parent / "definitions"
WIDGET_TYPES = ("kpi-card", "bar-chart", "line-chart", "pie-chart", "table", "gauge", "heatmap", "budget-bar")
TYPE_ALIASES = {"progress-bar": "budget-bar", "kpi": "kpi-card", "bar": "bar-chart", "line": "line-chart",
                "pie": "pie-chart", "donut": "pie-chart"}
FORMATS = ("number", "integer", "decimal", "percent", "currency", "ms", "seconds", "minutes", "text", "date")
DEFAULT_SPAN = {"kpi-card": 1, "gauge": 1, "pie-chart": 2, "bar-chart": 2, "line-chart": 2, "heatmap": 4,
                "table": 4, "budget-bar": 4}
_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DASHBOARD_KEYS = {"id", "title", "audience", "category", "description", "data_through", "widgets"}
_WIDGET_KEYS = {"id", "title", "type", "sql", "description", "options"}


class DashboardDefinitionError(ValueError):
    """A dashboard file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Widget:
    id: str
    title: str
    type: str
    sql: str
    description: str = ""
    options: dict = field(default_factory=dict)

    @property
    def span(self) -> int:
        return int(self.options.get("span", DEFAULT_SPAN[self.type]))


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    audience: str
    category: str
    widgets: tuple[Widget, ...]
    description: str = ""
    data_through_sql: str = ""  # one value: the newest event the dashboard's data covers
    source: str = ""  # the file it came from

    @property
    def tables(self) -> list[str]:
        """Warehouse tables/views the widgets read (CTE names excluded), sorted."""
        names: set[str] = set()
        for sql in [w.sql for w in self.widgets] + ([self.data_through_sql] if self.data_through_sql else []):
            names |= views_read(sql)
        return sorted(names)


def dashboard_files(user_dir: str | None) -> list[Path]:
    """The shipped YAML files, then the user's (``ANALYTICS_DASHBOARDS_DIR``), each folder sorted by name."""
    files = sorted(SHIPPED_DIR.glob("*.y*ml"))
    if user_dir and Path(user_dir).is_dir():
        files += sorted(p for p in Path(user_dir).iterdir() if p.suffix in (".yaml", ".yml"))
    return files


def load_dashboards(files: list[Path]) -> list[Dashboard]:
    dashboards: dict[str, Dashboard] = {}
    for path in files:
        dashboard = load_dashboard(path)
        if dashboard.id in dashboards:
            raise DashboardDefinitionError(
                f"{path.name}: id: {dashboard.id!r} is already used by {Path(dashboards[dashboard.id].source).name}")
        dashboards[dashboard.id] = dashboard
    return list(dashboards.values())


def load_dashboard(path: Path) -> Dashboard:
    where = path.name
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise DashboardDefinitionError(f"{where}: not valid YAML{line}: {getattr(err, 'problem', err)}") from None
    except UnicodeDecodeError:
        raise DashboardDefinitionError(f"{where}: not UTF-8 text") from None
    if not isinstance(document, dict):
        raise DashboardDefinitionError(f"{where}: expected a mapping with id, title, audience, category, widgets")
    _no_unknown_keys(where, document, _DASHBOARD_KEYS)
    dashboard_id = _identifier(where, "id", document.get("id"))
    widgets_in = document.get("widgets")
    if not isinstance(widgets_in, list) or not widgets_in:
        raise DashboardDefinitionError(f"{where}: widgets: expected a non-empty list of widgets")
    widgets, seen = [], set()
    for n, item in enumerate(widgets_in):
        widget = _widget(f"{where}: widgets[{n}]", item)
        if widget.id in seen:
            raise DashboardDefinitionError(f"{where}: widgets[{n}].id: {widget.id!r} appears twice")
        seen.add(widget.id)
        widgets.append(widget)
    data_through = document.get("data_through") or ""
    if data_through:
        _valid_sql(f"{where}: data_through", data_through)
    return Dashboard(
        id=dashboard_id,
        title=_text(where, "title", document.get("title")),
        audience=_text(where, "audience", document.get("audience")),
        category=_text(where, "category", document.get("category")),
        description=str(document.get("description") or ""),
        widgets=tuple(widgets),
        data_through_sql=data_through,
        source=str(path),
    )


def _widget(where: str, item) -> Widget:
    if not isinstance(item, dict):
        raise DashboardDefinitionError(f"{where}: expected a mapping with id, title, type, sql")
    widget_id = _identifier(where, "id", item.get("id"), sep=".")
    where = f"{where} ({widget_id})"
    _no_unknown_keys(where, item, _WIDGET_KEYS)
    kind = TYPE_ALIASES.get(str(item.get("type")), item.get("type"))
    if kind not in WIDGET_TYPES:
        raise DashboardDefinitionError(f"{where}.type: {item.get('type')!r} is not one of {', '.join(WIDGET_TYPES)}")
    options = item.get("options") or {}
    if not isinstance(options, dict):
        raise DashboardDefinitionError(f"{where}.options: expected a mapping")
    _check_options(where, options)
    sql = _text(where, "sql", item.get("sql"), sep=".")
    _valid_sql(f"{where}.sql", sql)
    return Widget(id=widget_id, title=_text(where, "title", item.get("title"), sep="."), type=kind, sql=sql,
                  description=str(item.get("description") or ""), options=dict(options))


def _check_options(where: str, options: dict) -> None:
    formats = [("format", options.get("format"))] + [
        (f"formats.{k}", v) for k, v in (options.get("formats") or {}).items()]
    for name, value in formats:
        if value is not None and value not in FORMATS:
            raise DashboardDefinitionError(f"{where}.options.{name}: {value!r} is not one of {', '.join(FORMATS)}")
    currency = options.get("currency")
    if currency is not None and currency not in SOURCE_NAMES and not (isinstance(currency, str)
                                                                       and is_currency_code(currency)):
        raise DashboardDefinitionError(f"{where}.options.currency: {currency!r} is neither a source ("
                                       f"{', '.join(SOURCE_NAMES)}: its ANALYTICS_CURRENCY) nor an ISO 4217 code")
    span = options.get("span")
    if span is not None and span not in (1, 2, 3, 4):
        raise DashboardDefinitionError(f"{where}.options.span: {span!r} is not 1, 2, 3 or 4 (columns of 4)")
    for name in ("min", "max", "target", "warn_at", "alert_at"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DashboardDefinitionError(f"{where}.options.{name}: {value!r} is not a number")


def _valid_sql(where: str, sql: str) -> None:
    try:
        to_duckdb_sql(sql, "duckdb")
    except QueryError as err:
        raise DashboardDefinitionError(f"{where}: {err}") from None


def _no_unknown_keys(where: str, document: dict, known: set[str]) -> None:
    unknown = sorted(set(map(str, document)) - known)
    if unknown:
        raise DashboardDefinitionError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _identifier(where: str, name: str, value, sep: str = ": ") -> str:
    if value is None:
        raise DashboardDefinitionError(f"{where}{sep}{name}: missing")
    if not isinstance(value, str) or not _ID.match(value):
        raise DashboardDefinitionError(
            f"{where}{sep}{name}: {value!r} must be lower-case letters, digits and _ (starting with a letter)")
    return value


def _text(where: str, name: str, value, sep: str = ": ") -> str:
    if not isinstance(value, str) or not value.strip():
        raise DashboardDefinitionError(f"{where}{sep}{name}: missing or empty")
    return value.strip()
