"""Intent classification of operator queries (gas-turbine assistant, seed 001), versioned in the lake.

Every query gets a primary ``intent`` (one of :data:`INTENTS`; ``"fallback"`` for off-topic,
unintelligible or chit-chat queries and for queries the classifier is unsure about) and, where it
can tell, a ``sub_intent`` naming the topic (``oil_system``, ``startup``, ``lockout_tagout``, ...).

The interface is :class:`IntentClassifier`, a :class:`typing.Protocol`: any object with a
``version: str`` attribute and a ``predict(queries: list[str]) -> list[IntentPrediction]``
method is a classifier, without inheriting from anything. :class:`TextIntentClassifier` (TF-IDF +
linear models) is the one shipped here; an LLM-backed classifier plugs in the same way::

    class LlmIntentClassifier:
        version = "llm:some-model@intent-prompt-3"   # whatever identifies model + prompt

        def predict(self, queries: list[str]) -> list[IntentPrediction]:
            answers = [call_llm(INTENT_PROMPT, q) for q in queries]   # e.g. JSON {"intent", "sub_intent"}
            return [IntentPrediction(a["intent"] if a["intent"] in INTENTS else "fallback",
                                     a.get("sub_intent"), float(a.get("confidence", 1.0)), self.version)
                    for a in answers]

Code that labels conversations should take an ``IntentClassifier`` and store each prediction's
``classifier_version`` next to the label, so labels from different classifiers never mix silently.

Versioned storage (any :class:`ModelStore`, e.g. :class:`analytics_pipeline.lake.storage.StorageRoot`)::

    models/intent-classifier/v1/model.joblib        the fitted pipelines (joblib pickle)
    models/intent-classifier/v1/metrics.json        held-out accuracy, per-intent F1, counts
    models/intent-classifier/v1/training_set.sha256 hash of the training examples
    models/intent-classifier/current.json           {"version": "v1", ...}: the promoted version

:func:`train_and_promote` always writes a new version and moves ``current.json`` to it only when
its held-out accuracy is not worse than the current version's. ``model.joblib`` is a pickle:
load models only from a store you trust.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import joblib
import numpy as np

# scikit-learn is imported where a model is trained or stored, not with this module: importing it takes
# about 1.5 s, which every process loading the code location (`run`, `sql`, `serve`, `dagster dev`) paid.
if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

INTENTS: tuple[str, ...] = (
    "troubleshooting", "procedure", "status_check", "maintenance", "safety", "documentation", "fallback",
)
FALLBACK = "fallback"
MODEL_NAME = "intent-classifier"
MODELS_PREFIX = f"models/{MODEL_NAME}"
EXAMPLES_RESOURCE = "intent_examples.jsonl"

#: Below this top intent probability the query is answered as "fallback".
DEFAULT_FALLBACK_THRESHOLD = 0.35
#: A sub_intent is reported only when its probability reaches this.
DEFAULT_SUB_INTENT_THRESHOLD = 0.5
_NO_SUB = "__none__"  # the sub-intent model's class for "no topic"
_VERSION_DIR = re.compile(rf"^{re.escape(MODELS_PREFIX)}/v(\d+)/")


# ----------------------------------------------------------------------------------------------
# Interface
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntentPrediction:
    """One query's label: ``confidence`` is the top intent probability (0..1)."""

    intent: str
    sub_intent: str | None
    confidence: float
    classifier_version: str


@runtime_checkable
class IntentClassifier(Protocol):
    """Anything that labels queries: ``version`` plus ``predict`` (one prediction per query, in order)."""

    version: str

    def predict(self, queries: list[str]) -> list[IntentPrediction]: ...


class StoredKey(Protocol):
    key: str


class ModelStore(Protocol):
    """The storage this module needs; :class:`analytics_pipeline.lake.storage.StorageRoot` has it."""

    def read_bytes(self, *parts: str) -> bytes: ...

    def write_bytes(self, data: bytes, *parts: str) -> None: ...

    def exists(self, *parts: str) -> bool: ...

    def list_files(self, prefix: str = "") -> Sequence[StoredKey]: ...


@dataclass(frozen=True)
class IntentExample:
    """A labelled query. ``family`` names the paraphrase family it was written from (optional):
    examples of one family are held out together, so the held-out score measures new wordings."""

    query: str
    intent: str
    sub_intent: str | None = None
    family: str | None = None

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> IntentExample:
        intent = str(row["intent"])
        if intent not in INTENTS:
            raise ValueError(f"unknown intent {intent!r} in {dict(row)!r}; expected one of {INTENTS}")
        sub = row.get("sub_intent")
        family = row.get("family")
        return cls(str(row["query"]), intent, str(sub) if sub else None, str(family) if family else None)


@dataclass(frozen=True)
class PromotionResult:
    """What :func:`train_and_promote` did: ``version`` was written; ``promoted`` says whether it is current."""

    version: str
    promoted: bool
    held_out_accuracy: float
    previous_accuracy: float | None


# ----------------------------------------------------------------------------------------------
# The scikit-learn classifier
# ----------------------------------------------------------------------------------------------
class TextIntentClassifier:
    """TF-IDF (word 1-2-grams + char_wb 2-5-grams) and a linear model, one per level (see ``_pipeline``).

    ``intent_model`` predicts the primary intent; a top probability below ``fallback_threshold``
    turns the answer into ``"fallback"``. ``sub_intent_model`` (None when the training set had
    fewer than two topics) predicts the topic, reported only at probability ≥ ``sub_intent_threshold``
    and never for fallback. Blank queries are fallback without asking the models.
    """

    def __init__(self, intent_model: Pipeline, sub_intent_model: Pipeline | None, version: str, *,
                 fallback_threshold: float = DEFAULT_FALLBACK_THRESHOLD,
                 sub_intent_threshold: float = DEFAULT_SUB_INTENT_THRESHOLD) -> None:
        self.intent_model = intent_model
        self.sub_intent_model = sub_intent_model
        self.version = version
        self.fallback_threshold = fallback_threshold
        self.sub_intent_threshold = sub_intent_threshold

    def predict(self, queries: list[str]) -> list[IntentPrediction]:
        texts = [q if isinstance(q, str) else "" for q in queries]
        results: list[IntentPrediction | None] = [
            IntentPrediction(FALLBACK, None, 1.0, self.version) if not t.strip() else None for t in texts
        ]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            batch = [texts[i] for i in todo]
            proba = self.intent_model.predict_proba(batch)
            classes = self.intent_model.classes_
            best = proba.argmax(axis=1)
            subs = self._sub_intents(batch)
            for j, i in enumerate(todo):
                confidence = float(proba[j, best[j]])
                intent = str(classes[best[j]])
                if confidence < self.fallback_threshold:
                    intent = FALLBACK
                results[i] = IntentPrediction(intent, None if intent == FALLBACK else subs[j],
                                              round(confidence, 4), self.version)
        return [r for r in results if r is not None]

    def _sub_intents(self, batch: list[str]) -> list[str | None]:
        if self.sub_intent_model is None:
            return [None] * len(batch)
        proba = self.sub_intent_model.predict_proba(batch)
        classes = self.sub_intent_model.classes_
        best = proba.argmax(axis=1)
        return [str(classes[b]) if proba[j, b] >= self.sub_intent_threshold and classes[b] != _NO_SUB else None
                for j, b in enumerate(best)]

    # -- serialisation: plain dict of fitted pipelines, so the class may change without breaking old files
    def to_bytes(self) -> bytes:
        import sklearn

        buffer = io.BytesIO()
        joblib.dump({
            "intent_model": self.intent_model, "sub_intent_model": self.sub_intent_model,
            "fallback_threshold": self.fallback_threshold, "sub_intent_threshold": self.sub_intent_threshold,
            "sklearn_version": sklearn.__version__,
        }, buffer, compress=3)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, version: str) -> TextIntentClassifier:
        """Unpickle a model written by :meth:`to_bytes` (a pickle: trusted sources only)."""
        state = joblib.load(io.BytesIO(data))
        return cls(state["intent_model"], state["sub_intent_model"], version,
                   fallback_threshold=state["fallback_threshold"],
                   sub_intent_threshold=state["sub_intent_threshold"])


def _pipeline(labels: Sequence[str], seed: int, *, calibrated_svm: bool) -> Pipeline:
    """Word 1-2-grams + char_wb 2-5-grams, then a linear model with probabilities.

    The intent model is a LinearSVC calibrated by 3-fold CV (the best held-out score on the
    shipped set); the sub-intent model, and any model whose rarest class has fewer than 3
    examples (calibration needs 3 folds), is a logistic regression.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    features = FeatureUnion([
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w[\w/&-]*\b")),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ])
    if calibrated_svm and min(Counter(labels).values()) >= 3:
        model: Any = CalibratedClassifierCV(LinearSVC(C=1.0, random_state=seed), cv=3)
    else:
        model = LogisticRegression(C=100.0, solver="newton-cg", max_iter=1000, random_state=seed)
    return Pipeline([("features", features), ("model", model)])


# ----------------------------------------------------------------------------------------------
# Data and training
# ----------------------------------------------------------------------------------------------
def load_examples() -> list[IntentExample]:
    """The labelled operator queries shipped with this package (``intent_examples.jsonl``).

    One JSON object a line: ``query``, ``intent``, ``sub_intent`` (or null) and ``family``, the
    paraphrase family the query was written from (used to hold out whole families; optional).
    """
    text = resources.files(__package__).joinpath(EXAMPLES_RESOURCE).read_text(encoding="utf-8")
    return [IntentExample.from_mapping(json.loads(line)) for line in text.splitlines() if line.strip()]


def training_set_sha256(examples: Iterable[IntentExample | Mapping[str, Any]]) -> str:
    """A stable hash of the examples (order matters: the split depends on it)."""
    digest = hashlib.sha256()
    for ex in _coerce(examples):
        digest.update(json.dumps(asdict(ex), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def train(examples: Sequence[IntentExample | Mapping[str, Any]], seed: int = 0,
          ) -> tuple[TextIntentClassifier, dict[str, Any]]:
    """Fit on 80 % of ``examples`` and score on the held-out 20 %.

    The split is stratified by intent and grouped by ``family`` (examples without a family are
    their own group), so paraphrases of one template never sit on both sides. The returned
    classifier is the one that was scored (fitted on the training part only). Its version is
    ``intent-classifier/dev-<hash of the training set>`` until it is stored.

    metrics: ``held_out_accuracy`` (intent, after the fallback threshold), ``per_intent_f1``,
    ``sub_intent_accuracy`` (held-out queries with a topic), ``examples``, ``held_out``,
    ``train_seconds``, ``seed``, ``training_set_sha256``, ``sklearn_version``.
    """
    import sklearn
    from sklearn.metrics import accuracy_score, f1_score

    rows = _coerce(examples)
    if len({r.intent for r in rows}) < 2:
        raise ValueError("training needs examples of at least two intents")
    started = time.perf_counter()
    train_idx, test_idx = _split(rows, seed)
    train_rows = [rows[i] for i in train_idx]
    test_rows = [rows[i] for i in test_idx]

    intents = [r.intent for r in train_rows]
    intent_model = _pipeline(intents, seed, calibrated_svm=True).fit([r.query for r in train_rows], intents)
    sub_rows = [r for r in train_rows if r.intent != FALLBACK]
    sub_labels = [r.sub_intent or _NO_SUB for r in sub_rows]
    sub_model = (_pipeline(sub_labels, seed, calibrated_svm=False).fit([r.query for r in sub_rows], sub_labels)
                 if len(set(sub_labels)) >= 2 else None)
    sha = training_set_sha256(rows)
    classifier = TextIntentClassifier(intent_model, sub_model, f"{MODEL_NAME}/dev-{sha[:12]}")
    train_seconds = time.perf_counter() - started

    predictions = classifier.predict([r.query for r in test_rows])
    truth = [r.intent for r in test_rows]
    guess = [p.intent for p in predictions]
    labels = sorted(set(truth), key=INTENTS.index)
    f1s = f1_score(truth, guess, labels=labels, average=None, zero_division=0)
    with_topic = [(r, p) for r, p in zip(test_rows, predictions) if r.sub_intent]
    metrics: dict[str, Any] = {
        "held_out_accuracy": round(float(accuracy_score(truth, guess)), 4) if test_rows else 0.0,
        "per_intent_f1": {label: round(float(f), 4) for label, f in zip(labels, f1s)},
        "sub_intent_accuracy": (round(sum(r.sub_intent == p.sub_intent for r, p in with_topic) / len(with_topic), 4)
                                if with_topic else None),
        "examples": len(rows),
        "held_out": len(test_rows),
        "train_seconds": round(train_seconds, 3),
        "seed": seed,
        "training_set_sha256": sha,
        "sklearn_version": sklearn.__version__,
    }
    return classifier, metrics


def _coerce(examples: Iterable[IntentExample | Mapping[str, Any]]) -> list[IntentExample]:
    return [e if isinstance(e, IntentExample) else IntentExample.from_mapping(e) for e in examples]


def _split(rows: list[IntentExample], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One fold of five: ~20 % held out, stratified by intent, grouped by family."""
    from sklearn.model_selection import StratifiedGroupKFold

    intents = np.array([r.intent for r in rows])
    groups = np.array([r.family or f"#example-{i}" for i, r in enumerate(rows)])
    n_splits = max(2, min(5, len(set(groups))))
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_idx, test_idx = next(folds.split(np.zeros(len(rows)), intents, groups))
    return train_idx, test_idx


# ----------------------------------------------------------------------------------------------
# Versioned storage
# ----------------------------------------------------------------------------------------------
def list_versions(store: ModelStore) -> list[int]:
    """Version numbers present under ``models/intent-classifier/`` (those with a model file), ascending."""
    found = set()
    for stored in store.list_files(MODELS_PREFIX):
        match = _VERSION_DIR.match(stored.key)
        if match and stored.key.endswith("/model.joblib"):
            found.add(int(match.group(1)))
    return sorted(found)


def current_version(store: ModelStore) -> str | None:
    """The promoted version (``"v3"``) named by ``current.json``, or None before the first promotion."""
    if not store.exists(MODELS_PREFIX, "current.json"):
        return None
    return str(json.loads(store.read_bytes(MODELS_PREFIX, "current.json"))["version"])


def read_metrics(store: ModelStore, version: str) -> dict[str, Any]:
    return json.loads(store.read_bytes(MODELS_PREFIX, version, "metrics.json"))


def save_version(store: ModelStore, classifier: TextIntentClassifier, metrics: Mapping[str, Any]) -> str:
    """Write the classifier as the next version ``vN`` (not promoted); sets ``classifier.version``."""
    existing = list_versions(store)
    version = f"v{(existing[-1] if existing else 0) + 1}"
    classifier.version = f"{MODEL_NAME}/{version}"
    stored_metrics = {**metrics, "version": version, "classifier_version": classifier.version,
                      "created_at": _now()}
    # metrics and hash first, model last: a version "exists" once its model file does.
    store.write_bytes(json.dumps(stored_metrics, indent=2, sort_keys=True).encode(), MODELS_PREFIX, version,
                      "metrics.json")
    store.write_bytes(f"{metrics['training_set_sha256']}\n".encode(), MODELS_PREFIX, version,
                      "training_set.sha256")
    store.write_bytes(classifier.to_bytes(), MODELS_PREFIX, version, "model.joblib")
    return version


def promote(store: ModelStore, version: str) -> None:
    """Make ``version`` the current one (one small object, replaced atomically)."""
    metrics = read_metrics(store, version)
    store.write_bytes(json.dumps({"version": version, "held_out_accuracy": metrics["held_out_accuracy"],
                                  "promoted_at": _now()}, indent=2).encode(), MODELS_PREFIX, "current.json")


def train_and_promote(store: ModelStore, examples: Sequence[IntentExample | Mapping[str, Any]] | None = None,
                      *, seed: int = 0) -> PromotionResult:
    """Train on ``examples`` (default: the shipped set), store the result as ``vN+1`` and promote it
    unless its held-out accuracy is worse than the current version's (a tie promotes).

    Accuracies are compared as recorded in each version's ``metrics.json``; each was measured on
    its own training set's held-out part. Not safe against two concurrent trainers on one store.
    """
    classifier, metrics = train(load_examples() if examples is None else examples, seed=seed)
    previous = current_version(store)
    previous_accuracy = float(read_metrics(store, previous)["held_out_accuracy"]) if previous else None
    version = save_version(store, classifier, metrics)
    accuracy = float(metrics["held_out_accuracy"])
    promoted = previous_accuracy is None or accuracy >= previous_accuracy
    if promoted:
        promote(store, version)
    return PromotionResult(version, promoted, accuracy, previous_accuracy)


def load_version(store: ModelStore, version: str) -> TextIntentClassifier:
    return TextIntentClassifier.from_bytes(store.read_bytes(MODELS_PREFIX, version, "model.joblib"),
                                           f"{MODEL_NAME}/{version}")


def load_current(store: ModelStore) -> TextIntentClassifier | None:
    """The promoted classifier (its ``version`` is ``intent-classifier/vN``), or None if none was promoted."""
    version = current_version(store)
    return load_version(store, version) if version else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
