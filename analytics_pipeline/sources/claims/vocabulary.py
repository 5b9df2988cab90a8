"""The claim lifecycle words the marts rely on, in one place."""

INTAKE_STATUS = "SUBMITTED"
AI_ASSESSED_STATUS = "AI_ASSESSED"
DECISION_STATUSES = ("APPROVED", "DENIED")
PAID_STATUS = "PAID"
COMPLETED_STATUSES = ("PAID", "DENIED")

# The seed's per-page prices: analyze_document £0.0015 vs detect_text £0.00015.
ANALYZE_DOCUMENT_PRICE_GBP = 0.0015
DETECT_TEXT_PRICE_GBP = 0.00015

# The seed's CloudWatch alarm: agreement below 85 % is model drift.
AGREEMENT_RATE_FLOOR = 0.85
HIGH_FRAUD_SCORE = 70
