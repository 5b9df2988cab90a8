"""``analytics-pipeline ask``: a question in plain language → SQL over the warehouse (seed 002's question-to-SQL agent).

``models`` reaches the language model the user brings, ``schema`` describes the warehouse to it, ``prompt`` holds
what is said to it and reads its answers, ``answer`` runs the loop (at most three attempts, each query through the
SQL runner's read-only gate and limits), ``history`` keeps every question in the lake (``ask_history``).
"""
