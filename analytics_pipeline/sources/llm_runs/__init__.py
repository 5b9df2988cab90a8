"""LLM run and cost analytics (seed 004): per-model usage with prices, run costs, budget, QA."""
