"""Dashboards declared as data: one YAML file each, loaded into dataclasses and checked before anything runs.

Every problem is reported in one line that names the file and the field, e.g.
``finance.yaml: widgets[2] (cost_split).type: 'barchart' is not one of kpi-card, bar-chart, ...``.
Widget SQL must parse as one read-only query (the warehouse's SQL gate decides).

A dashboard may declare an ``entity`` (a project, an agent, a region): it is then also generated once per entity
value, its widgets reading only the rows of that entity (see ``entities.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from analytics_pipeline.currencies import is_currency_code
from analytics_pipeline.dashboards.entities import EntityFilterError, filtered_sql
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
_DASHBOARD_KEYS = {"id", "title", "audience", "category", "description", "data_through", "entity", "widgets"}
_WIDGET_KEYS = {"id", "title", "type", "sql", "description", "options", "entity_sql", "per_entity"}
_ENTITY_KEYS = {"name", "label", "tables", "data_through"}
# entity kinds name API paths (/api/v1/<kind>/<id>/dashboards): not these, which name other routes
RESERVED_ENTITY_NAMES = {"dashboards", "export", "entities"}


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
class Entity:
    """The dimension a dashboard is also generated per value of: ``name`` is the kind in the API
    (``/api/v1/<name>/<id>/dashboards``); ``tables`` maps every table its pages read to the column naming the
    entity (the first lists the entities); ``widgets`` and ``data_through_sql`` are the entity pages' own, their
    SQL reading only the rows of the entity bound to ``$entity``."""

    name: str
    label: str
    tables: dict[str, str]
    widgets: tuple[Widget, ...]
    data_through_sql: str = ""


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
    entity: Entity | None = None

    @property
    def tables(self) -> list[str]:
        """Warehouse tables/views the widgets read (CTE names excluded), sorted; entity pages' included."""
        queries = [w.sql for w in self.widgets] + [self.data_through_sql]
        if self.entity:
            queries += [w.sql for w in self.entity.widgets] + [self.entity.data_through_sql]
        names: set[str] = set()
        for sql in filter(None, queries):
            names |= views_read(sql)
        return sorted(names)


def dashboard_files(user_dir: str | None) -> list[Path]:
    """The shipped YAML files, then the user's (``ANALYTICS_DASHBOARDS_DIR``), each folder sorted by name."""
    files = sorted(SHIPPED_DIR.glob("*.y*ml"))
    if user_dir and Path(user_dir).is_dir():
        files += sorted(p for p in Path(user_dir).iterdir() if p.suffix in (".yaml", ".yml"))
    return files


# libyaml's safe loader where PyYAML was built with it (~10 × faster: the dashboards load in every process)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
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
    entity = None
    if document.get("entity") is not None:
        entity = _entity(where, document["entity"], widgets_in, widgets, data_through)
    else:
        for n, (item, widget) in enumerate(zip(widgets_in, widgets)):
            extra = sorted({"entity_sql", "per_entity"} & set(item))
            if extra:
                raise DashboardDefinitionError(f"{where}: widgets[{n}] ({widget.id}).{extra[0]}: the dashboard "
                                               "declares no entity")
    return Dashboard(
        id=dashboard_id,
        title=_text(where, "title", document.get("title")),
        audience=_text(where, "audience", document.get("audience")),
        category=_text(where, "category", document.get("category")),
        description=str(document.get("description") or ""),
        widgets=tuple(widgets),
        data_through_sql=data_through,
        source=str(path),
        entity=entity,
    )


def _entity(where: str, block, widgets_in: list, widgets: list[Widget], data_through: str) -> Entity:
    """The ``entity`` block, and the entity pages' widgets with their SQL filtered to one entity. Every table an
    entity page reads must be listed under ``entity.tables``: a widget reading another (an aggregate over every
    entity) gives its own ``entity_sql`` or says ``per_entity: false``."""
    if not isinstance(block, dict):
        raise DashboardDefinitionError(f"{where}: entity: expected a mapping with name and tables")
    _no_unknown_keys(f"{where}: entity", block, _ENTITY_KEYS)
    name = _identifier(where, "entity.name", block.get("name"))
    if name in RESERVED_ENTITY_NAMES:
        raise DashboardDefinitionError(f"{where}: entity.name: {name!r} names another API route; not one of "
                                       f"{', '.join(sorted(RESERVED_ENTITY_NAMES))}")
    label = block.get("label") or name.replace("_", " ").capitalize()
    if not isinstance(label, str):
        raise DashboardDefinitionError(f"{where}: entity.label: expected text")
    tables = block.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise DashboardDefinitionError(f"{where}: entity.tables: expected a mapping of table: column (the column "
                                       "holding the entity), the first table listing the entities")
    for table, column in tables.items():
        _identifier(where, f"entity.tables.{table}", table)
        _identifier(where, f"entity.tables.{table}", column)

    def filtered(at: str, sql: str) -> str:
        try:
            sql = filtered_sql(sql, tables)
        except EntityFilterError as err:
            raise DashboardDefinitionError(f"{at}: {err}") from None
        _valid_sql(at, sql)
        return sql

    entity_widgets = []
    for n, (item, widget) in enumerate(zip(widgets_in, widgets)):
        at = f"{where}: widgets[{n}] ({widget.id})"
        per_entity, own_sql = item.get("per_entity", True), item.get("entity_sql")
        if not isinstance(per_entity, bool):
            raise DashboardDefinitionError(f"{at}.per_entity: {per_entity!r} is not true or false")
        if not per_entity:
            if own_sql is not None:
                raise DashboardDefinitionError(f"{at}: entity_sql and per_entity: false contradict each other")
            continue
        field_name = "sql" if own_sql is None else "entity_sql"
        sql = widget.sql if own_sql is None else _text(at, "entity_sql", own_sql, sep=".")
        _valid_sql(f"{at}.{field_name}", sql)
        entity_widgets.append(replace(widget, sql=filtered(f"{at}.{field_name}", sql)))
    if not entity_widgets:
        raise DashboardDefinitionError(f"{where}: entity: every widget says per_entity: false; an entity page "
                                       "needs at least one widget")
    through = block.get("data_through")
    if through is not None:
        through = _text(where, "entity.data_through", through)
        _valid_sql(f"{where}: entity.data_through", through)
        through = filtered(f"{where}: entity.data_through", through)
    elif data_through:
        try:
            through = filtered_sql(data_through, tables)
        except EntityFilterError:
            raise DashboardDefinitionError(
                f"{where}: entity.data_through: missing, and data_through reads a table entity.tables does not "
                "list: give the entity pages their own data_through") from None
    return Entity(name=name, label=label.strip(), tables=dict(tables), widgets=tuple(entity_widgets),
                  data_through_sql=through or "")


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
