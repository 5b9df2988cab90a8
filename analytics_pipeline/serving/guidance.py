"""Next-intent guidance (seed 001's Predictive Guidance Lambda): the likeliest next intents.

``NextIntentGuide`` loads the learned transition table once (``next_intent_probabilities``) and
answers from memory, so a lookup is a few dictionary reads — fast enough for an online assistant.
Back-off: the last two intents, else the last one, else the overall intent mix; with a user, the
answer is blended with that user's own most common intents.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from analytics_pipeline.serving.sql_runner import (
    QueryError,
    run_query,
    warehouse_tables,
)
from analytics_pipeline.settings import Settings

USER_WEIGHT = 0.2


@dataclass(frozen=True)
class Suggestion:
    intent: str
    probability: float
    basis: str  # which context answered: "last 2 intents", "session start + its intent", "last intent", "overall mix"


class NextIntentGuide:
    def __init__(self, transitions: dict[tuple[int, str], dict[str, float]], user_intents: dict[str, list[str]]):
        self.transitions = transitions
        self.user_intents = user_intents

    @classmethod
    def from_warehouse(cls, settings: Settings) -> "NextIntentGuide":
        tables = warehouse_tables(settings)
        if "next_intent_probabilities" not in tables:
            raise QueryError("no learned intent transitions yet: land conversations and run the pipeline first")
        transitions: dict[tuple[int, str], dict[str, float]] = defaultdict(dict)
        for n, context, intent, probability in run_query(
                settings, "SELECT n, context, next_intent, probability FROM next_intent_probabilities").rows:
            transitions[(n, context)][intent] = probability
        users = {}
        if "user_profiles" in tables:
            users = {u: list(c or []) for u, c in run_query(settings, "SELECT user_id, common_intents FROM user_profiles").rows}
        return cls(dict(transitions), users)

    @property
    def known_intents(self) -> list[str]:
        """Every intent the learned transitions name, as context or as next intent."""
        names = {intent for (_, context), nexts in self.transitions.items()
                 for intent in [*context.split(" > "), *nexts] if intent}
        return sorted(names - {"<start>", "<end>"})

    def unknown_intents(self, intents: list[str]) -> list[str]:
        known = set(self.known_intents)
        return [intent for intent in intents if intent not in known]

    def suggest(self, intents: list[str], user: str | None = None, k: int = 3) -> list[Suggestion]:
        history = ["<start>", "<start>", *intents]
        # with one intent, the 2-intent context is the session's start and that intent
        pair = "last 2 intents" if len(intents) > 1 else "session start + its intent"
        for n, basis in ((2, pair), (1, "last intent"), (0, "overall mix")):
            context = " > ".join(history[-n:]) if n else ""
            if n == 2 and history[-2] == "<start>" and history[-1] == "<start>":
                continue
            distribution = self.transitions.get((n, context))
            if distribution:
                break
        else:
            return []
        scores = dict(distribution)
        if user and self.user_intents.get(user):
            favourites = self.user_intents[user]
            scores = {i: (1 - USER_WEIGHT) * p for i, p in scores.items()}
            for rank, intent in enumerate(favourites):
                scores[intent] = scores.get(intent, 0.0) + USER_WEIGHT * (len(favourites) - rank) / sum(
                    range(1, len(favourites) + 1))
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [Suggestion(intent, probability, basis) for intent, probability in ranked]

