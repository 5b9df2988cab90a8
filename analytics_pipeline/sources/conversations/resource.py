"""The ``conversations`` resource: the pseudonym key of user ids, the phone number regions of the redaction,
and what a human interaction costs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
from pydantic import Field

from analytics_pipeline.settings import DEFAULT_DATA_DIR, Settings
from analytics_pipeline.sources.conversations.spec import KEY_FILE, pseudonym_key

_DEFAULT = {f.name: f.default for f in dataclasses.fields(Settings)}


class ConversationsResource(dg.ConfigurableResource):
    """What the conversations' parse and savings marts are computed with."""

    human_interaction_cost: float = Field(default=_DEFAULT["human_interaction_cost"], description="What one "
                                          "conversation handled by a human costs (ANALYTICS_HUMAN_INTERACTION_COST).")
    # A secret: given as EnvVar("ANALYTICS_PSEUDONYM_KEY"), the UI shows the variable's name, never the key.
    pseudonym_key: str = Field(default="", description="The key of the user ids' keyed hash "
                                                       "(ANALYTICS_PSEUDONYM_KEY); empty: the key file's.")
    pseudonym_key_file: str = Field(default=str(Path(DEFAULT_DATA_DIR) / KEY_FILE), description="Where the key is "
                                    "made once, when none is given: <data dir>/.pseudonym_key.")

    phone_regions: list[str] = Field(default=list(_DEFAULT["phone_regions"]), description="The regions whose "
                                     "national phone number formats the redaction knows (ANALYTICS_PHONE_REGIONS).")

    @classmethod
    def for_settings(cls, settings: Settings, **given) -> ConversationsResource:
        """``given``: fields given another way (the key, as an ``EnvVar``)."""
        return cls(**{"human_interaction_cost": settings.human_interaction_cost,
                      "pseudonym_key_file": str(Path(settings.data_dir) / KEY_FILE),
                      "phone_regions": list(settings.phone_regions), **given})

    def key(self) -> str:
        return pseudonym_key(self.pseudonym_key, self.pseudonym_key_file)


# The values a table's SQL is read with when the definitions are built (only the views it reads matter then).
DEFAULT_CONVERSATIONS = ConversationsResource()
