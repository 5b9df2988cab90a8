"""Intent classifier of operator queries: data set, held-out quality, versioned storage in a real StorageRoot."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections import Counter
from dataclasses import replace

import pytest

from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.sources.conversations.classifier import (
    INTENTS,
    MODELS_PREFIX,
    IntentClassifier,
    IntentExample,
    IntentPrediction,
    TextIntentClassifier,
    current_version,
    list_versions,
    load_current,
    load_examples,
    train,
    train_and_promote,
)

OBVIOUS = {
    "How do I fix low oil pressure?": ("troubleshooting", "oil_system"),
    "What's the startup procedure for SMT60?": ("procedure", "startup"),
    "what's the weather like": ("fallback", None),
}


@pytest.fixture(scope="module")
def examples() -> list[IntentExample]:
    return load_examples()


@pytest.fixture(scope="module")
def trained(examples) -> tuple[TextIntentClassifier, dict]:
    return train(examples, seed=0)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_data_set_is_large_balanced_and_free_of_duplicates(examples):
    counts = Counter(e.intent for e in examples)
    assert len(examples) >= 600
    assert set(counts) == set(INTENTS)
    assert min(counts.values()) >= 70, counts
    assert all(e.sub_intent is None for e in examples if e.intent == "fallback")
    normalised = [_norm(e.query) or e.query for e in examples]
    assert len(set(normalised)) == len(normalised)
    assert not {_norm(q) for q in OBVIOUS} & set(normalised)  # the sanity queries below are not training rows


def test_held_out_accuracy_on_unseen_paraphrase_families(trained, examples):
    _, metrics = trained
    print(f"held-out accuracy {metrics['held_out_accuracy']}, per-intent F1 {metrics['per_intent_f1']}")
    assert metrics["held_out_accuracy"] >= 0.85
    assert set(metrics["per_intent_f1"]) == set(INTENTS)
    assert metrics["examples"] == len(examples)
    assert 0.15 * len(examples) <= metrics["held_out"] <= 0.25 * len(examples)


def test_obvious_queries(trained):
    classifier, _ = trained
    predictions = classifier.predict(list(OBVIOUS))
    assert [(p.intent, p.sub_intent) for p in predictions] == list(OBVIOUS.values())
    assert all(0.35 <= p.confidence <= 1 for p in predictions)
    assert all(p.classifier_version == classifier.version for p in predictions)


def test_blank_queries_are_fallback_and_order_is_kept(trained):
    classifier, _ = trained
    predictions = classifier.predict(["", "is unit 2 running", "   "])
    assert [p.intent for p in predictions] == ["fallback", "status_check", "fallback"]
    assert predictions[0].sub_intent is None


def test_any_object_with_version_and_predict_is_an_intent_classifier(trained):
    class FixedAnswer:  # what an LLM-backed classifier looks like to callers
        version = "llm:test@prompt-1"

        def predict(self, queries: list[str]) -> list[IntentPrediction]:
            return [IntentPrediction("documentation", "manuals", 1.0, self.version) for _ in queries]

    assert isinstance(trained[0], IntentClassifier)
    assert isinstance(FixedAnswer(), IntentClassifier)


def test_versions_are_stored_and_only_not_worse_models_are_promoted(tmp_path, examples):
    store = StorageRoot(str(tmp_path / "lake"))
    assert load_current(store) is None

    first = train_and_promote(store, examples)
    assert (first.version, first.promoted, first.previous_accuracy) == ("v1", True, None)

    second = train_and_promote(store, examples)  # same data, same seed: a tie, which promotes
    assert (second.version, second.promoted) == ("v2", True)
    assert second.held_out_accuracy == second.previous_accuracy == first.held_out_accuracy

    rng = random.Random(7)
    subset = rng.sample(examples, 120)
    shuffled = [e.intent for e in subset]
    rng.shuffle(shuffled)
    corrupted = [replace(e, intent=label, sub_intent=None if label == "fallback" else e.sub_intent)
                 for e, label in zip(subset, shuffled)]
    worse = train_and_promote(store, corrupted)
    assert (worse.version, worse.promoted) == ("v3", False)
    assert worse.held_out_accuracy < second.held_out_accuracy
    assert worse.previous_accuracy == second.held_out_accuracy

    assert list_versions(store) == [1, 2, 3]
    assert current_version(store) == "v2"
    for version in ("v1", "v2", "v3"):
        for name in ("model.joblib", "metrics.json", "training_set.sha256"):
            assert store.exists(MODELS_PREFIX, version, name)
    v2_metrics = json.loads(store.read_bytes(MODELS_PREFIX, "v2", "metrics.json"))
    assert v2_metrics["held_out_accuracy"] == second.held_out_accuracy
    sha = store.read_bytes(MODELS_PREFIX, "v2", "training_set.sha256").decode().strip()
    assert sha == v2_metrics["training_set_sha256"]
    assert sha != store.read_bytes(MODELS_PREFIX, "v3", "training_set.sha256").decode().strip()

    current = load_current(store)
    assert current is not None and current.version == "intent-classifier/v2"
    predictions = current.predict(list(OBVIOUS))
    assert [(p.intent, p.sub_intent) for p in predictions] == list(OBVIOUS.values())
    assert {p.classifier_version for p in predictions} == {"intent-classifier/v2"}


def test_loading_the_code_location_does_not_import_scikit_learn():
    """scikit-learn is imported when a model is trained or loaded, not by every process that loads the
    definitions (`run` on a lake without conversations, `sql`, `serve`)."""
    probe = "import sys, analytics_pipeline.definitions, analytics_pipeline.cli; print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False\n"
