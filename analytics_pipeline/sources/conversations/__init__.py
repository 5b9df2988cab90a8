"""Conversations (seeds 001, 003): intents, flows, guidance, insights."""
