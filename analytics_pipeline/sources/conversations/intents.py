"""Intent extraction (seed 001's daily Intent Extraction Lambda and SageMaker registry, as assets).

``intent_model`` trains the offline text classifier on the labelled examples the project ships and
keeps versions under ``lake/models/intent-classifier/vN/``; a version is promoted only when its
held-out accuracy is not worse. ``intents`` classifies each day's user turns (one partition per
event day; a schedule re-runs yesterday at 02:00 UTC, like the seed's Lambda).

Another classifier — an LLM behind an API, say — plugs in through the ``intent_classifier``
resource: set ``plugin`` to ``"package.module:factory"``, where ``factory()`` returns an object with
``version: str`` and ``predict(queries: list[str]) -> list[IntentPrediction]`` (see ``classifier.py``).
"""

import importlib
from pathlib import PurePosixPath

import dagster as dg
import pyarrow as pa

from analytics_pipeline.platform.asset_keys import raw_asset_key
from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, scalar
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.tables import register_raw_day, row_count, write_table
from analytics_pipeline.platform.metadata import markdown_bars, rounded
from analytics_pipeline.platform.partitions import (
    ONE_RUN_FOR_ALL_DAYS,
    day_check_results,
    event_day_partitions,
    partitioned_check_spec,
)
from analytics_pipeline.sources.conversations.classifier import (
    IntentClassifier,
    load_current,
    load_examples,
    train_and_promote,
)
from analytics_pipeline.sources.conversations.pii_check import check_spec, written_rows_scan
from analytics_pipeline.sources.conversations.resource import ConversationsResource
from analytics_pipeline.sources.conversations.vocabulary import (
    LOW_CONFIDENCE,
    USER_TURN_EVENTS,
    sql_tuple,
)

ACCURACY_FLOOR = 0.8
FALLBACK_RATE_CEILING = 0.15
LOW_CONFIDENCE_RATE_CEILING = 0.3


class IntentClassifierResource(dg.ConfigurableResource):
    """Which classifier labels the queries: the lake's promoted model, or a plugged-in one."""

    plugin: str = ""

    def classifier(self, lake: LakeResource) -> IntentClassifier:
        if self.plugin:
            module, _, factory = self.plugin.partition(":")
            return getattr(importlib.import_module(module), factory)()
        model = load_current(lake.lake_root())
        if model is None:  # first use on a fresh lake: train the shipped model once, as intent_model would
            train_and_promote(lake.lake_root(), load_examples())
            model = load_current(lake.lake_root())
        return model


@dg.asset(
    name="intent_model", group_name="conversations", kinds={"scikit-learn"},
    description="Offline intent classifier trained on the shipped labelled examples; versioned, promoted "
                "only if held-out accuracy does not drop.",
    check_specs=[dg.AssetCheckSpec("held_out_accuracy_floor", asset="intent_model",
                                   description=f"The promoted classifier's held-out accuracy is at least {ACCURACY_FLOOR:.0%}.")],
    automation_condition=dg.AutomationCondition.missing() & ~dg.AutomationCondition.in_progress(),
)
def intent_model(context: dg.AssetExecutionContext, lake: LakeResource):
    result = train_and_promote(lake.lake_root(), load_examples())
    current = result.held_out_accuracy if result.promoted else result.previous_accuracy
    context.log.info(f"trained {result.version}: accuracy {result.held_out_accuracy:.3f}, promoted={result.promoted}")
    yield dg.MaterializeResult(metadata={
        "version": result.version, "promoted": result.promoted,
        "held_out_accuracy": rounded(result.held_out_accuracy),
        "previous_accuracy": rounded(result.previous_accuracy or 0.0),
    })
    yield dg.AssetCheckResult(check_name="held_out_accuracy_floor", passed=(current or 0) >= ACCURACY_FLOOR,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"held_out_accuracy": rounded(current or 0.0)})


INTENT_CHECKS = [
    partitioned_check_spec("fallback_rate_below_ceiling", "intents",
                           f"At most {FALLBACK_RATE_CEILING:.0%} of the day's queries fall back."),
    partitioned_check_spec("low_confidence_rate_below_ceiling", "intents",
                           f"At most {LOW_CONFIDENCE_RATE_CEILING:.0%} of the day's queries below {LOW_CONFIDENCE} confidence."),
    check_spec("intents", partitioned=True),
]


@dg.asset(
    name="intents", group_name="conversations", kinds={"duckdb", "parquet", "scikit-learn"},
    partitions_def=event_day_partitions, backfill_policy=ONE_RUN_FOR_ALL_DAYS,
    deps=[raw_asset_key("conversations"), intent_model.key],
    check_specs=INTENT_CHECKS,
    description="Each user query of the day with its primary intent, sub-intent, confidence and classifier version.",
)
def intents(context: dg.AssetExecutionContext, lake: LakeResource, intent_classifier: IntentClassifierResource,
            conversations: ConversationsResource):
    root = lake.lake_root()
    con = connect(root)
    checks: dict[str, list[dg.AssetCheckResult]] = {}
    classifier = None
    try:
        for day in context.partition_keys:
            queries = []
            if register_raw_day(con, root, "conversations", day):
                queries = [r[0] for r in con.execute(
                    "SELECT DISTINCT query FROM raw_day WHERE query IS NOT NULL AND event_type IN "
                    + sql_tuple(USER_TURN_EVENTS)
                ).fetchall()]
            if not queries:
                root.delete(str(PurePosixPath(layout.table_file("processed", "intents", day)).parent))
                context.add_asset_metadata({"dagster/row_count": 0, "note": f"no queries on {day}"}, partition_key=day)
                checks[day] = [dg.AssetCheckResult(check_name=spec.name, passed=True, description=f"no queries on {day}")
                               for spec in INTENT_CHECKS]
                continue
            classifier = classifier or intent_classifier.classifier(lake)
            metadata, checks[day] = _classify_day(con, root, classifier, queries, day)
            checks[day] += written_rows_scan(con, conversations)
            context.add_asset_metadata(metadata, partition_key=day)
    finally:
        con.close()
    yield dg.MaterializeResult()
    yield from day_check_results(context, checks)


def _classify_day(con, root, classifier: IntentClassifier, queries: list[str], day: str):
    """Label ``day``'s queries and write its partition; its metadata and check results."""
    predictions = classifier.predict(queries)
    con.register("predictions", pa.table({
        "query": queries,
        "intent": [p.intent for p in predictions],
        "sub_intent": [p.sub_intent for p in predictions],
        "confidence": pa.array([p.confidence for p in predictions], pa.float64()),
        "classifier_version": [p.classifier_version for p in predictions],
    }))
    write_table(con, root, f"""
        SELECT t.event_id, t.session_id, t.user_id, t.agent_id, t.channel, t.event_time, t.turn, t.query,
               p.intent, p.sub_intent, p.confidence, p.classifier_version, t.event_date
        FROM raw_day t JOIN predictions p USING (query)
        WHERE t.event_type IN {sql_tuple(USER_TURN_EVENTS)}
        ORDER BY t.event_time, t.event_id""", "processed", "intents", partition=day)
    con.unregister("predictions")
    rows = row_count(con)
    fallback = scalar(con, "SELECT avg((intent = 'fallback')::INT) FROM result_rows")
    low = scalar(con, f"SELECT avg((confidence < {LOW_CONFIDENCE})::INT) FROM result_rows")
    metadata = {
        "dagster/row_count": rows, "classifier_version": classifier.version,
        "fallback_rate": rounded(fallback),
        "low_confidence_rate": rounded(low),
        "intents": markdown_bars(con, "SELECT intent, count(*) FROM result_rows GROUP BY 1 ORDER BY 2 DESC",
                                 "Queries by intent"),
    }
    checks = [
        dg.AssetCheckResult(check_name="fallback_rate_below_ceiling", passed=fallback <= FALLBACK_RATE_CEILING,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"fallback_rate": rounded(fallback)}),
        dg.AssetCheckResult(check_name="low_confidence_rate_below_ceiling", passed=low <= LOW_CONFIDENCE_RATE_CEILING,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"low_confidence_rate": rounded(low)}),
    ]
    return metadata, checks
