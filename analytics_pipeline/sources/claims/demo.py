"""Synthetic landing files for the Intelligent Claims Processing Accelerator (ICPA).

The ICPA processes UK motor insurance claims: the customer submits, Textract extracts the documents,
a Bedrock model assesses the claim (payout, fraud score, confidence), about a third go to a human adjuster,
and the claim is approved (then paid) or denied. Each status change updates one item of the DynamoDB table
``ICPA_Claims``; the lake receives that table's change stream (NEW_AND_OLD_IMAGES).

Files land in ``landing/claims/`` as real producers deliver them: JSON Lines of stream records, pretty-printed
Lambda batch events and Firehose output of Kinesis Data Streams for DynamoDB, a third gzip-compressed,
with a few re-deliveries and a handful of damaged lines.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from analytics_pipeline.platform.demo_window import poisson_arrivals, window_end

TABLE = "ICPA_Claims"
AWS_REGION = "eu-west-2"
STREAM_ARN = f"arn:aws:dynamodb:{AWS_REGION}:123456789012:table/{TABLE}/stream/2026-01-01T00:00:00.000"

# name: (share of claims, fraud-score uplift)
VEHICLES = {"sedan": (30, 0), "hatchback": (25, 0), "suv": (18, 1), "ev": (10, -2),
            "van": (8, 3), "motorcycle": (5, 6), "truck": (4, 4)}
REGIONS = {"London": (20, 6), "South East": (15, 1), "Midlands": (14, 2), "North West": (12, 4),
           "Yorkshire": (9, 1), "Scotland": (9, -2), "East of England": (8, 0),
           "South West": (6, -1), "Wales": (4, -1), "Northern Ireland": (3, 3)}
# Relative submissions per UK local hour (0-23) and per weekday (Mon-Sun).
UK_HOUR_WEIGHTS = (0.15, 0.1, 0.08, 0.08, 0.08, 0.12, 0.25, 0.6, 1.3, 2.0, 2.2, 2.1,
                   1.8, 1.7, 1.9, 1.9, 1.7, 1.3, 0.9, 0.7, 0.6, 0.5, 0.35, 0.22)
DAY_FACTORS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.55, 0.4)
TEXTRACT_PRICE_PER_PAGE = {"detect_text": 0.0015, "analyze_document": 0.015}
DOC_TYPES = ("claim_form", "damage_photos", "repair_estimate", "police_report", "invoice", "driving_licence")
TAGS = ("windscreen", "third_party", "fast_track", "theft", "flood", "telematics", "hit_and_run", "courtesy_car")
ADJUSTERS = (("Priya Shah", "Motor Complex"), ("Tom Hughes", "Motor Standard"), ("Aisha Bello", "Fraud SIU"),
             ("Gareth Evans", "Motor Standard"), ("Fiona MacLeod", "Total Loss"), ("Liam O'Neill", "Motor Complex"))

# Adjuster overrides: what the adjuster did to the AI payout -> how they explained it.
OVERRIDE_REASONS = {
    "reduce": ("Pre-existing damage to the {part} predates this incident; excluded from settlement",
               "Engineer found pre-existing wear on {part}, payout reduced",
               "Liability split {split} with third party per witness statements",
               "Shared liability ({split}) - dashcam shows both drivers at fault",
               "Underinsured: declared value below market, average clause applied",
               "Valuation dispute - repair estimate inflated vs approved garage quote"),
    "increase": ("Valuation dispute upheld, market value higher than AI estimate",
                 "Customer supplied comparable adverts; valuation increased",
                 "Total loss confirmed by engineer, settled at pre-accident value",
                 "Vehicle written off (Cat {cat}); payout raised to market value"),
    "deny": ("Policy exclusion: {exclusion}", "Claim falls under the exclusion for {exclusion}",
             "Fraud indicators: {fraud_signal}", "Multiple fraud markers ({fraud_signal}); referred to SIU",
             "Missing documentation - {document} not provided after two requests"),
    "reinstate": ("Missing documentation now received ({document}); claim reinstated",
                  "Fraud indicators reviewed and cleared by SIU, no further action",
                  "Exclusion for {exclusion} does not apply to this loss"),
}
OVERRIDE_FILLERS = {
    "part": ("rear bumper", "nearside wing", "bonnet", "offside door", "alloy wheels", "tailgate"),
    "split": ("50/50", "60/40", "70/30"), "cat": ("S", "N"),
    "exclusion": ("business use not declared", "unlicensed driver", "track day use", "wear and tear",
                  "driving under the influence", "keys left in the vehicle"),
    "fraud_signal": ("inconsistent incident timeline", "claim shortly after policy inception",
                     "damage inconsistent with description", "link to a known claims ring", "duplicate invoice"),
    "document": ("V5C logbook", "police report", "repair invoice", "driving licence", "photos of damage"),
}
OVERRIDE_OPENERS = ("Adjuster note: ", "After site inspection: ", "Following call with policyholder - ", "Reviewed. ")
OVERRIDE_TRAILERS = (" - see attached photos", ". Pending engineer report.", ", confirmed by team lead",
                     " (desk review)", ". Customer informed.")

BASE_OVERRIDE_RATE = 0.26     # share of adjuster-reviewed claims where the adjuster changes the AI payout
DRIFT_OVERRIDE_RATE = 0.16    # extra override rate reached at `end`, ramping up over DRIFT_DAYS
DRIFT_DAYS = 4
REMOVE_RATE = 0.035           # claims withdrawn / erased after completion
DUPLICATE_RATE = 0.003        # records re-delivered in a later file
BAD_LINE_RATE = 0.0015        # JSON Lines records damaged in delivery
BAD_KINDS = ("truncated", "missing_event_id", "bad_claim_amount", "json_array")
MAX_RECORDS_PER_FILE = 200
NULL = {"NULL": True}


def _s(value: str) -> dict:
    return {"S": value}


def _n(value: float, places: int = 2) -> dict:
    """A DynamoDB number: a string without trailing zeros, as DynamoDB returns it."""
    text = f"{value:.{places}f}"
    return {"N": text.rstrip("0").rstrip(".") if "." in text else text}


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _gap(rng: random.Random, median_s: float, sigma: float, low_s: float, high_s: float) -> timedelta:
    """A skewed waiting time in whole seconds (log-normal, clamped to a plausible range)."""
    seconds = min(high_s, max(low_s, rng.lognormvariate(math.log(median_s), sigma)))
    return timedelta(seconds=max(1, round(seconds)))


def _pick(rng: random.Random, table: dict) -> str:
    return rng.choices(list(table), weights=[share for share, _ in table.values()])[0]


def _uk_offset(t: datetime) -> timedelta:
    """How far UK clocks are ahead of UTC: BST runs from the last Sunday of March to the last Sunday of October."""
    def last_sunday(month: int) -> datetime:
        day = datetime(t.year, month, 31, 1, tzinfo=timezone.utc)
        return day - timedelta(days=(day.weekday() + 1) % 7)
    return timedelta(hours=1) if last_sunday(3) <= t < last_sunday(10) else timedelta(0)


def _fraud_score(rng: random.Random, vehicle: str, region: str) -> float:
    """0-100: mostly low, higher for riskier vehicles and regions, with a small tail of suspicious claims."""
    score = rng.betavariate(1.4, 9) * 100 + VEHICLES[vehicle][1] + REGIONS[region][1]
    if rng.random() < 0.05:
        score += rng.uniform(35, 75)
    return round(min(100.0, max(0.0, score)), 1)


def _documents(rng: random.Random, claim_id: str, pages: int) -> dict:
    """Nested attributes describing the uploaded document pack (exercises schema growth)."""
    counts = [1] * min(pages, rng.randint(1, 3))
    for _ in range(pages - len(counts)):
        counts[rng.randrange(len(counts))] += 1
    docs = [{"M": {"doc_type": _s(kind), "pages": _n(count, 0), "s3_key": _s(f"claims/{claim_id}/{kind}.pdf")}}
            for kind, count in zip(rng.sample(DOC_TYPES, len(counts)), counts)]
    extra = {"documents": {"L": docs}}
    if rng.random() < 0.5:
        extra["page_counts"] = {"NS": sorted({str(c) for c in counts}, key=int)}
    return extra


def _justification(rng: random.Random, action: str) -> str:
    """Free-text reason an adjuster types when overriding the AI, with varied wording."""
    fillers = {key: rng.choice(options) for key, options in OVERRIDE_FILLERS.items()}
    text = rng.choice(OVERRIDE_REASONS[action]).format(**fillers)
    if rng.random() < 0.3:
        text = rng.choice(OVERRIDE_OPENERS) + text
    if rng.random() < 0.35:
        text += rng.choice(OVERRIDE_TRAILERS)
    return text


def _override(rng: random.Random, ai_payout: float, claim_amount: float) -> tuple[float, str]:
    """An adjuster's change to the AI payout (0 means denied) and the justification they record."""
    if ai_payout == 0:
        return round(claim_amount * rng.uniform(0.45, 0.9), 2), _justification(rng, "reinstate")
    action = rng.choices(("reduce", "increase", "deny"), weights=(5, 2, 3))[0]
    payout = {"reduce": ai_payout * rng.uniform(0.4, 0.85),
              "increase": min(claim_amount, ai_payout * rng.uniform(1.1, 1.4)), "deny": 0.0}[action]
    return round(payout, 2), _justification(rng, action)


def _intake(rng: random.Random, claim_id: str, submitted: datetime, vehicle: str, region: str, amount: float) -> dict:
    """The item as first written when the customer submits: no decision or payout yet, sometimes customer tags."""
    incident = submitted - timedelta(days=1 + min(20, int(rng.expovariate(0.35))))
    item = {"claim_id": _s(claim_id), "status": _s("SUBMITTED"),
            "policy_number": _s(f"POL-{rng.randrange(10**7, 10**8)}"), "claim_amount": _n(amount),
            "vehicle_type": _s(vehicle), "region": _s(region),
            "incident_date": _s(incident.date().isoformat()), "created_at": _s(_iso(submitted)),
            "payout_amount": NULL, "adjuster_override": {"BOOL": False}, "override_justification": NULL}
    if rng.random() < 0.25:
        item["tags"] = {"SS": sorted(rng.sample(TAGS, rng.randint(1, 3)))}
    return item


def _lifecycle(rng: random.Random, claim_id: str, submitted: datetime, end: datetime) -> Iterator[tuple]:
    """One claim's status changes as (time, status, processing ms spent, attribute updates); status None = removed.

    Extraction takes seconds to minutes, AI assessment a minute or two, adjuster review hours (the bottleneck),
    payment hours after approval. Adjusters override the AI more often towards `end` (agreement drift).
    """
    vehicle, region = _pick(rng, VEHICLES), _pick(rng, REGIONS)
    amount = round(min(25000.0, max(300.0, rng.lognormvariate(math.log(2200), 0.85))), 2)
    t = submitted
    # Textract runs at intake (as in the seed, whose savings query counts INSERT records).
    operation = "detect_text" if rng.random() < 0.7 else "analyze_document"
    pages = rng.randint(1, 6)
    textract_cost = TEXTRACT_PRICE_PER_PAGE[operation] * pages
    intake = _intake(rng, claim_id, submitted, vehicle, region, amount)
    intake.update({"textract_operation": _s(operation), "textract_cost": _n(textract_cost, 6),
                   "total_aws_cost": _n(textract_cost, 6)})
    yield t, "SUBMITTED", rng.randint(120, 600), intake

    extracted = {}
    if rng.random() < 0.4:
        extracted.update(_documents(rng, claim_id, pages))
    ms_per_page = rng.randint(1200, 5000) * (2 if operation == "analyze_document" else 1)
    t += _gap(rng, 40, 1.0, 3, 900)
    yield t, "DOCUMENTS_EXTRACTED", pages * ms_per_page, extracted

    fraud = _fraud_score(rng, vehicle, region)
    confidence = round(min(0.999, max(0.05, rng.betavariate(9, 1.6) - fraud / 400)), 3)
    ai_denies = (fraud > 70 and rng.random() < 0.85) or rng.random() < 0.12
    excess = rng.choice((100, 250, 350, 500))
    ai_payout = 0.0 if ai_denies else round(max(amount * 0.25, amount * rng.uniform(0.72, 1.0) - excess), 2)
    bedrock_cost = min(0.03, max(0.002, rng.lognormvariate(math.log(0.004 + 0.0015 * pages), 0.35)))
    t += _gap(rng, 90, 0.7, 10, 1200)
    yield t, "AI_ASSESSED", rng.randint(2500, 18000), {
        "ai_recommended_payout": _n(ai_payout), "fraud_score": _n(fraud, 1), "confidence_score": _n(confidence, 3),
        "bedrock_cost": _n(bedrock_cost, 6), "total_aws_cost": _n(textract_cost + bedrock_cost, 6)}

    reviewed = ai_denies or fraud > 55 or confidence < 0.6 or rng.random() < 0.2
    if reviewed:
        name, team = rng.choice(ADJUSTERS)
        assignment = {"adjuster": {"M": {"name": _s(name), "team": _s(team)}}} if rng.random() < 0.7 else {}
        t += _gap(rng, 30, 0.8, 2, 300)
        yield t, "ADJUSTER_REVIEW", rng.randint(50, 300), assignment
        t += _gap(rng, 5 * 3600, 0.8, 20 * 60, 72 * 3600)
    else:
        t += _gap(rng, 15, 0.6, 1, 120)
    drift = max(0.0, 1 - (end - t).total_seconds() / (DRIFT_DAYS * 86400))
    overridden = reviewed and rng.random() < BASE_OVERRIDE_RATE + DRIFT_OVERRIDE_RATE * drift
    payout, reason = _override(rng, ai_payout, amount) if overridden else (ai_payout, None)
    status = "APPROVED" if payout > 0 else "DENIED"
    yield t, status, rng.randint(80, 400), {
        "ai_agreement_flag": _s("DISAGREE" if overridden else "AGREE"), "adjuster_override": {"BOOL": overridden},
        "override_justification": _s(reason) if reason else NULL, "payout_amount": _n(payout) if payout > 0 else NULL}

    if status == "APPROVED":
        t += _gap(rng, 6 * 3600, 0.9, 600, 72 * 3600)
        yield t, "PAID", rng.randint(100, 500), {}
    if rng.random() < REMOVE_RATE:
        yield t + _gap(rng, 2 * 86400, 0.8, 3600, 10 * 86400), None, 0, {}


def _claim_events(rng: random.Random, claim_id: str, submitted: datetime, end: datetime) -> list[dict]:
    """The claim's stream changes up to `end`: an INSERT, a MODIFY per status change, perhaps a REMOVE."""
    events, old, duration_ms = [], None, 0
    for t, status, work_ms, updates in _lifecycle(rng, claim_id, submitted, end):
        if t > end:
            break
        if status is None:
            events.append(_change(rng, "REMOVE", t, claim_id, None, old))
            break
        duration_ms += work_ms
        new = {**(old or {}), **updates, "status": _s(status),
               "processing_duration_ms": _n(duration_ms, 0), "updated_at": _s(_iso(t))}
        events.append(_change(rng, "MODIFY" if old else "INSERT", t, claim_id, new, old))
        old = new
    return events


def _change(rng: random.Random, name: str, t: datetime, claim_id: str, new: dict | None, old: dict | None) -> dict:
    """One stream change of a claim item; images carry only what the event type has (INSERT new, REMOVE old)."""
    images = {"Keys": {"claim_id": _s(claim_id)}, "NewImage": new, "OldImage": old}
    images = {key: value for key, value in images.items() if value}
    return {"eventID": f"{rng.getrandbits(128):032x}", "eventName": name, "time": t, "images": images,
            "size": len(json.dumps(images, separators=(",", ":"))) // 2}


def _stream_record(event: dict) -> dict:
    """The record as DynamoDB Streams hands it to Lambda (epoch seconds)."""
    dynamodb = {"ApproximateCreationDateTime": int(event["time"].timestamp()), **event["images"],
                "SequenceNumber": event["seq"], "SizeBytes": event["size"], "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return {"eventID": event["eventID"], "eventName": event["eventName"], "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": AWS_REGION, "dynamodb": dynamodb, "eventSourceARN": STREAM_ARN}


def _kinesis_record(event: dict) -> dict:
    """The record as Kinesis Data Streams for DynamoDB emits it and Firehose delivers it (epoch milliseconds)."""
    dynamodb = {"ApproximateCreationDateTime": int(event["time"].timestamp()) * 1000,
                "ApproximateCreationDateTimePrecision": "MILLISECOND", **event["images"], "SizeBytes": event["size"]}
    return {"awsRegion": AWS_REGION, "eventID": event["eventID"], "eventName": event["eventName"], "userIdentity": None,
            "recordFormat": "application/json", "tableName": TABLE, "dynamodb": dynamodb, "eventSource": "aws:dynamodb"}


def _bad_line(record: dict, kind: str) -> str:
    """A record damaged the way producers occasionally damage them (the pipeline must quarantine it)."""
    if kind == "truncated":
        text = json.dumps(record, separators=(",", ":"))
        return text[: len(text) // 2]
    if kind == "missing_event_id":
        return json.dumps({k: v for k, v in record.items() if k != "eventID"}, separators=(",", ":"))
    if kind == "json_array":
        return json.dumps([record], separators=(",", ":"))
    dynamodb = dict(record["dynamodb"])
    image = "NewImage" if "NewImage" in dynamodb else "OldImage"
    dynamodb[image] = {**dynamodb[image], "claim_amount": {"N": "not-a-number"}}
    return json.dumps({**record, "dynamodb": dynamodb}, separators=(",", ":"))


def _delivery_windows(rng: random.Random, events: list[dict], start: datetime) -> Iterator[tuple[datetime, int, list]]:
    """Time-ordered events cut into hourly-ish delivery windows (45-75 min buffers), split into capped parts."""
    window, i = start.replace(second=0, microsecond=0), 0
    while i < len(events):
        close, batch = window + timedelta(minutes=rng.randint(45, 75)), []
        while i < len(events) and events[i]["time"] < close:
            batch.append(events[i])
            i += 1
        for part, first in enumerate(range(0, len(batch), MAX_RECORDS_PER_FILE), 1):
            yield window, part, batch[first:first + MAX_RECORDS_PER_FILE]
        window = close


def _add_redeliveries(rng: random.Random, files: list[dict]) -> None:
    """Re-deliver a few records (same eventID) in a later file of the same producer, as at-least-once delivery does."""
    originals = [list(f["events"]) for f in files]
    for i, (source, events) in enumerate(zip(files, originals)):
        for event in events:
            if rng.random() < DUPLICATE_RATE:
                later = [f for f in files[i + 1:i + 9] if f["format"] == source["format"]]
                if later:
                    rng.choice(later)["events"].append(event)


def _file_bytes(rng: random.Random, file: dict, bad_kinds: Iterator[str]) -> bytes:
    """Serialise one delivery file in its producer's format, damaging the odd JSON Lines record (never the first)."""
    if file["format"] == "lambda":
        text = json.dumps({"Records": [_stream_record(e) for e in file["events"]]}, indent=2) + "\n"
    else:
        render = _stream_record if file["format"] == "stream" else _kinesis_record
        lines = []
        for n, event in enumerate(file["events"]):
            record = render(event)
            damaged = n > 0 and rng.random() < BAD_LINE_RATE
            lines.append(_bad_line(record, next(bad_kinds)) if damaged else json.dumps(record, separators=(",", ":")))
        text = "\n".join(lines) + "\n"
    data = text.encode()
    return gzip.compress(data, compresslevel=6, mtime=0) if file["gzip"] else data


def _file_name(file: dict) -> str:
    w = file["window"]
    ext = (".json" if file["format"] == "lambda" else ".jsonl") + (".gz" if file["gzip"] else "")
    return f"{w:%Y/%m/%d}/claims-{w:%Y%m%dT%H%M}-{file['part']:04d}{ext}"


def claims_landing_files(days: int = 14, seed: int = 7, end: datetime | None = None,
                         claims_per_day: int = 250) -> Iterator[tuple[str, bytes]]:
    """Yield (relative_file_name, file_bytes) for landing/claims/. Deterministic for a given (days, seed, end, claims_per_day)."""
    end = window_end(end)
    start = end - timedelta(days=days)
    rng = random.Random(seed)

    arrivals = list(poisson_arrivals(rng, start, end, claims_per_day, DAY_FACTORS, UK_HOUR_WEIGHTS,
                                     local_time=lambda hour: hour + _uk_offset(hour)))
    events = [e for n, t in enumerate(arrivals, 1) for e in _claim_events(rng, f"CLM-{n:06d}", t, end)]
    events.sort(key=lambda e: e["time"])
    sequence = 10**20 + rng.randrange(10**15)
    for event in events:
        sequence += rng.randint(100, 99999)
        event["seq"] = str(sequence)

    files = [{"window": window, "part": part, "events": batch, "gzip": rng.random() < 1 / 3,
              "format": rng.choices(("stream", "lambda", "kinesis"), weights=(60, 20, 20))[0]}
             for window, part, batch in _delivery_windows(rng, events, start)]
    _add_redeliveries(rng, files)
    bad_kinds = itertools.cycle(BAD_KINDS)
    for file in files:
        yield _file_name(file), _file_bytes(rng, file, bad_kinds)
