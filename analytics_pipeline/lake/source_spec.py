"""What the generic ingestion needs to know about one landing source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from analytics_pipeline.lake import quarantine_reasons
from analytics_pipeline.lake.duck import sql_list


# The columns every parse SQL selects (as ``{record_provenance}``) from its line scan's ``file``, ``line_no``,
# ``record_no``, ``file_seq`` and ``problems``: where each record came from, and why a bad one is quarantined.
RECORD_PROVENANCE = """file AS source_file,
    line_no AS source_line,
    record_no AS source_record,
    file_seq,
    reason_code(problems) AS error_reason,
    reason_detail(problems) AS reason_detail"""


@dataclass(frozen=True)
class SourceSpec:
    """A landing source: its name and the SQL that turns ``landing_lines`` into typed rows.

    The SQL yields the raw columns plus ``event_id``, ``event_time``, ``event_date``, ``{record_provenance}``
    (``RECORD_PROVENANCE``: where the record came from, and ``error_reason`` — NULL when the row is good, else
    its code from quarantine_reasons.py — with its ``reason_detail``), ``original_text`` (bad rows only) and
    ``extra_attributes`` (JSON of attributes beyond the typed columns, or NULL). The template names reason codes
    as ``{reason.<code>}``.
    """

    name: str
    records_sql_template: str
    entity_key: str
    description: str
    template_values: dict[str, str] = field(default_factory=dict)
    # Warehouse views over the raw layer: view name → SELECT over {raw}. Default: one view named after the source.
    raw_views: dict[str, str] = field(default_factory=dict)
    # For templates with an {envelopes} slot: the CTEs that build envelopes from landing_lines, and
    # (optional fast path) from read_json over clean JSON-lines files ({fast_paths}, {fast_compression}).
    line_envelopes_template: str = ""
    json_envelopes_template: str = ""
    # Registers what the parse SQL needs beyond the lake's macros (e.g. secrets bound as variables); called with
    # rows=False where the parse only gives an empty relation its columns. In a run, staging gives it the run's
    # resource named ``prepare_resource`` (as the keyword argument of that name).
    prepare: Callable[..., None] | None = None
    prepare_resource: str = ""
    # Attributes beyond the typed columns are DynamoDB-typed values ({"S": ...}), and scalar ones are promoted to
    # columns of their own; a source whose attributes are plain JSON keeps them in extra_attributes only.
    promotes_typed_attributes: bool = True
    # Fast path only: template values learnt from the first lines of the files, overriding ``template_values``
    # (e.g. the attribute names the files carry beyond the typed ones).
    sample_values: Callable[[list[bytes]], dict[str, str]] | None = None

    @property
    def has_fast_path(self) -> bool:
        return bool(self.json_envelopes_template)

    def given(self, resource) -> SourceSpec:
        """The spec whose parse gets ``resource`` (the run's ``prepare_resource``; outside a run, one made from the
        settings); a spec that needs none is itself."""
        if not self.prepare_resource:
            return self
        return replace(self, prepare=partial(self.prepare, **{self.prepare_resource: resource}))

    def views(self) -> dict[str, str]:
        return self.raw_views or {self.name: "SELECT * FROM {raw}"}

    def records_sql(self, min_event_time: datetime, max_event_time: datetime,
                    fast_paths: list[str] | None = None, fast_compression: str = "none",
                    sampled: dict[str, str] | None = None) -> str:
        """The parse SQL over ``landing_lines`` or, given ``fast_paths``, over read_json of those files.

        ``sampled``: what ``sample_values`` learnt from those files (fast path only).
        """
        template = self.records_sql_template
        values = dict(self.template_values)
        if fast_paths is not None:
            template = template.replace("{envelopes}", self.json_envelopes_template.strip())
            values.update(sampled or {}, fast_paths=sql_list(fast_paths), fast_compression=fast_compression)
        elif self.line_envelopes_template:
            template = template.replace("{envelopes}", self.line_envelopes_template.strip())
        return template.format(
            **values,
            reason=quarantine_reasons.SQL_LITERALS,
            record_provenance=RECORD_PROVENANCE,
            min_event_time=min_event_time.strftime("%Y-%m-%d %H:%M:%S"),
            max_event_time=max_event_time.strftime("%Y-%m-%d %H:%M:%S"),
        )
