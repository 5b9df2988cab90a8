"""Intent extraction (seed 001's daily Intent Extraction Lambda and SageMaker registry, as assets).

``intent_model`` trains the offline text classifier on the labelled examples the project ships and
keeps versions under ``lake/models/intent-classifier/vN/``; a version is promoted only when its
held-out accuracy is not worse. ``intents`` classifies each day's user turns (a daily table: one partition per
event day, its run's queries labelled in one call by its prepare hook; a schedule re-runs yesterday at 02:00 UTC,
like the seed's Lambda).

Another classifier — an LLM behind an API, say — plugs in through the ``intent_classifier``
resource: set ``plugin`` to ``"package.module:factory"``, where ``factory()`` returns an object with
``version: str`` and ``predict(queries: list[str]) -> list[IntentPrediction]`` (see ``classifier.py``).
"""

import importlib

import dagster as dg
import duckdb
import pyarrow as pa

from analytics_pipeline.lake.duck import scalar
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.platform.metadata import markdown_bars, rounded
from analytics_pipeline.sources.conversations.assets import tables
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
    dg.AssetCheckSpec("fallback_rate_below_ceiling", asset="intents",
                      description=f"At most {FALLBACK_RATE_CEILING:.0%} of the day's queries fall back."),
    dg.AssetCheckSpec("low_confidence_rate_below_ceiling", asset="intents",
                      description=f"At most {LOW_CONFIDENCE_RATE_CEILING:.0%} of the day's queries below "
                                  f"{LOW_CONFIDENCE} confidence."),
    check_spec("intents"),
]
_PREDICTIONS = pa.schema([("query", pa.string()), ("intent", pa.string()), ("sub_intent", pa.string()),
                          ("confidence", pa.float64()), ("classifier_version", pa.string())])


def classify_queries(con: duckdb.DuckDBPyConnection, intent_classifier: IntentClassifierResource,
                     lake: LakeResource) -> None:
    """``intent_predictions``: the distinct user queries of the run's days (``raw_days``), labelled in one call;
    the classifier is not even loaded when the days hold no query."""
    queries = [row[0] for row in con.execute(
        f"SELECT DISTINCT query FROM raw_days WHERE query IS NOT NULL AND event_type IN {sql_tuple(USER_TURN_EVENTS)}"
    ).fetchall()]
    predictions = intent_classifier.classifier(lake).predict(queries) if queries else []
    con.register("intent_predictions", pa.table([
        queries, [p.intent for p in predictions], [p.sub_intent for p in predictions],
        [p.confidence for p in predictions], [p.classifier_version for p in predictions]], schema=_PREDICTIONS))


def _rates(con: duckdb.DuckDBPyConnection) -> tuple[float, float]:
    """The day's (result_rows') fallback and low-confidence rates."""
    return (scalar(con, "SELECT avg((intent = 'fallback')::INT) FROM result_rows"),
            scalar(con, f"SELECT avg((confidence < {LOW_CONFIDENCE})::INT) FROM result_rows"))


def day_metadata(con: duckdb.DuckDBPyConnection, day: str) -> dict:
    if not scalar(con, "SELECT count(*) FROM result_rows"):
        return {"note": f"no queries on {day}"}
    fallback, low = _rates(con)
    return {
        "classifier_version": scalar(con, "SELECT any_value(classifier_version) FROM result_rows"),
        "fallback_rate": rounded(fallback), "low_confidence_rate": rounded(low),
        "intents": markdown_bars(con, "SELECT intent, count(*) FROM result_rows GROUP BY 1 ORDER BY 2 DESC",
                                 "Queries by intent"),
    }


def intent_checks(con: duckdb.DuckDBPyConnection, day: str,
                  conversations: ConversationsResource) -> list[dg.AssetCheckResult]:
    if not scalar(con, "SELECT count(*) FROM result_rows"):
        return [dg.AssetCheckResult(check_name=spec.name, passed=True, description=f"no queries on {day}")
                for spec in INTENT_CHECKS]
    fallback, low = _rates(con)
    return [*written_rows_scan(con, conversations),
        dg.AssetCheckResult(check_name="fallback_rate_below_ceiling", passed=fallback <= FALLBACK_RATE_CEILING,
                            severity=dg.AssetCheckSeverity.WARN, metadata={"fallback_rate": rounded(fallback)}),
        dg.AssetCheckResult(check_name="low_confidence_rate_below_ceiling", passed=low <= LOW_CONFIDENCE_RATE_CEILING,
                            severity=dg.AssetCheckSeverity.WARN, metadata={"low_confidence_rate": rounded(low)}),
    ]


intents = tables.daily(
    "intents", "Each user query of the day with its primary intent, sub-intent, confidence and classifier version.",
    layer="processed", kinds=("scikit-learn",), deps=[intent_model.key],
    prepare=classify_queries, prepared=("intent_predictions",), resources=("lake", "intent_classifier", "conversations"),
    check_specs=INTENT_CHECKS, checks=intent_checks, day_metadata=day_metadata,
)
