"""Synthetic landing files for the turbine operators' AI assistant (the analytics source ``conversations``).

Control-room operators, maintenance technicians and HSE advisors at five gas-turbine sites (SMT25, SMT60 and
SMT130 units in the UK and on the US Gulf Coast) chat with an assistant from the web, the mobile app or Microsoft
Teams. They troubleshoot (low oil pressure, vibration alarms, fuel system faults), ask for procedures (start-up,
compressor wash), check unit status, plan maintenance, ask safety questions (lockout/tagout, gas detection) and
look for documents (manuals, drawings), plus the odd off-topic question the assistant has to turn away.

A session follows a plausible flow: troubleshooting -> procedure -> documentation, status_check -> maintenance,
safety -> procedure, mostly about the same plant system. Each session is routed to one agent
(``agent-turbine-ops``, ``agent-maintenance``, ``agent-safety``). It ends resolved, escalated to a human (the
user asks for one, the assistant is unsure, or the question is safety-critical) or dropped: the user walks away
and the session times out after 30 minutes, or the client is closed and no end event is ever sent. A few power
users run most sessions, some user ids are e-mail addresses, a night-shift troubleshooting session often runs
across midnight UTC, and about 5 % of questions carry personal data (an e-mail address, a UK/US phone number, a
payment card number, or "my name is ...") that the lake must redact.

Three producers write to ``landing/conversations/``, mixed in the same hourly files
(``YYYY/MM/DD/events-YYYYMMDDTHH.jsonl``, a third gzip-compressed), one JSON object per line:

* about half of the sessions: EventBridge envelopes from ``turbine.assistant``: ``Query Processed`` per turn,
  ``Session Completed`` at the end, rarely ``Feedback Submitted``;
* about 30 %: the chat SDK, which tracks seed 003's ``AnalyticsEvent`` (naive UTC timestamps, as the seed's
  ``datetime.utcnow()`` writes them): ``conversation_start``, per turn ``user_message``, ``intent_classified``,
  ``entity_extracted``, ``bot_response`` (now and then without a response time), for status look-ups, work orders
  and parts a ``workflow_started`` and its ``workflow_completed`` or ``workflow_failed`` (with an ``api_call`` to
  the plant historian, an ``error`` when it fails), a ``custom`` handover event with ``data.escalated_to_human``,
  ``user_feedback`` and ``conversation_end``;
* the rest: clients still on the older SDK version: ``session_started``, ``message_received``, ``response_sent``,
  ``escalated_to_human``, ``feedback``, ``session_ended``.

The mess a lake must cope with: about 0.3 % of events re-delivered in a later file (same id), two or three
damaged lines, one event without its session_id, events delivered into the next hour's file, and sessions still
open at the end of the window.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from analytics_pipeline.demo.sampling import new_id, poisson_arrivals, window_end

EVENT_SOURCE = "turbine.assistant"
AWS_ACCOUNT = "123456789012"
AWS_REGION = "eu-west-1"

INTENTS = ("troubleshooting", "procedure", "status_check", "maintenance", "safety", "documentation", "fallback")
AGENTS = ("agent-turbine-ops", "agent-maintenance", "agent-safety")

# name: (country, e-mail domain, units as (unit, turbine model), share of users)
SITES = {
    "Aberdeen": ("uk", "northsea-power.co.uk", (("Unit 1", "SMT60"), ("Unit 2", "SMT60"), ("Unit 3", "SMT130")), 30),
    "Teesside": ("uk", "teesgen.co.uk", (("GT-1", "SMT130"), ("GT-2", "SMT130")), 20),
    "Grangemouth": ("uk", "forth-energy.co.uk", (("Unit A", "SMT25"), ("Unit B", "SMT60")), 12),
    "Houston": ("us", "gulfturbine.com", (("Train 1", "SMT60"), ("Train 2", "SMT60"), ("Train 3", "SMT130")), 24),
    "Corpus Christi": ("us", "baypower-ops.com", (("GT-11", "SMT25"), ("GT-12", "SMT60")), 14),
}
# country: (share of sessions, hours local time is ahead of UTC, locale)
COUNTRIES = {"uk": (0.6, 0, "en-GB"), "us": (0.4, -6, "en-US")}
# Relative sessions per local hour: sites are staffed round the clock, busiest on the day shift.
LOCAL_HOUR_WEIGHTS = (0.3, 0.25, 0.2, 0.2, 0.25, 0.4, 0.9, 1.6, 2.0, 1.9, 1.8, 1.6,
                      1.4, 1.7, 1.8, 1.6, 1.3, 1.0, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4)
DAY_FACTORS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.7, 0.65)   # Mon-Sun: turbines run at weekends, with fewer people on site

# role: (share of users, the agent their client opens by default)
ROLES = {"control room operator": (55, "agent-turbine-ops"), "maintenance technician": (35, "agent-maintenance"),
         "HSE advisor": (10, "agent-safety")}
# channel: (share as a user's usual channel, platforms it runs on)
CHANNELS = {"web": (45, ("web",)), "teams": (35, ("windows", "windows", "macos")), "mobile": (20, ("ios", "android"))}
ENTRY_POINTS = {"web": "chat_widget", "teams": "teams_bot", "mobile": "mobile_app"}
AGENT_FOR_INTENT = {"troubleshooting": "agent-turbine-ops", "procedure": "agent-turbine-ops",
                    "status_check": "agent-turbine-ops", "documentation": "agent-turbine-ops",
                    "maintenance": "agent-maintenance", "safety": "agent-safety", "fallback": "agent-turbine-ops"}
HANDOVER_QUEUES = {"agent-turbine-ops": "turbine-desk", "agent-maintenance": "maintenance-planning",
                   "agent-safety": "site-hse"}

# What a session opens with, and what operators ask next (share of the next turn).
FIRST_INTENT = {"troubleshooting": 28, "procedure": 20, "status_check": 16, "maintenance": 14, "safety": 8,
                "documentation": 8, "fallback": 6}
FLOWS = {
    "troubleshooting": {"procedure": 40, "documentation": 15, "troubleshooting": 15, "safety": 12,
                        "maintenance": 10, "status_check": 8},
    "procedure": {"documentation": 30, "procedure": 25, "safety": 20, "maintenance": 15, "troubleshooting": 10},
    "status_check": {"maintenance": 40, "troubleshooting": 25, "status_check": 20, "documentation": 15},
    "maintenance": {"procedure": 35, "documentation": 25, "maintenance": 20, "safety": 10, "status_check": 10},
    "safety": {"procedure": 45, "documentation": 30, "safety": 25},
    "documentation": {"procedure": 40, "documentation": 35, "maintenance": 15, "troubleshooting": 10},
    "fallback": {"fallback": 25, "troubleshooting": 25, "procedure": 20, "status_check": 15, "documentation": 15},
}
SAME_SYSTEM_SHARE = 0.7       # a follow-up question stays on the same plant system when it can
FALLBACK_INTERJECTION = 0.03  # an off-topic question in the middle of a session
# Chance per turn that the assistant hands over to a human, by intent (uplifts for unsure answers below).
ESCALATION_BASE = {"troubleshooting": 0.045, "procedure": 0.012, "status_check": 0.01, "maintenance": 0.02,
                   "safety": 0.07, "documentation": 0.008, "fallback": 0.03}
LOW_CONFIDENCE = 0.7
IDLE_TIMEOUT = timedelta(minutes=30)
CLOSED_WITHOUT_END = 0.35     # dropped sessions whose client never sends an end event
NIGHT_SHIFT_SHARE = 0.6       # nights with a long troubleshooting session that starts just before midnight UTC
PII_RATE = 0.05               # questions that carry personal data
POWER_USERS = 3
POWER_USER_WEIGHT = 4.0
EMAIL_USER_ID_SHARE = 0.2
EVENTBRIDGE_SHARE = 0.5
CHAT_SDK_SHARE = 0.3          # seed 003's AnalyticsEvent; the rest of the sessions come from the older SDK
WORKFLOW_FAILURE = 0.08       # a workflow (historian read, work order, part order) fails, more often when unsure
UNTIMED_RESPONSE = 0.02       # a bot_response whose client did not measure the response time
GZIP_SHARE = 1 / 3
DUPLICATE_RATE = 0.003        # events re-delivered in a later file
BAD_KINDS = ("truncated", "unclosed", "truncated")

# intent: topic: (plant system, questions, response summaries). Placeholders are filled per session (_fillers).
TOPICS = {
    "troubleshooting": {
        "oil_pressure": ("lube_oil", (
            "How do I troubleshoot low oil pressure on {unit}?",
            "Lube oil header pressure on the {model} is down to {psi} psi, what should I check?",
            "Low oil pressure alarm came in on {unit} right after start-up. What causes that?",
            "How do I fix low oil pressure?",
            "Oil pressure has been dropping slowly on {unit} over the last shift, filter DP looks normal"), (
            "Listed checks for low lube oil pressure: tank level, filter differential pressure, pressure control "
            "valve and pump discharge; trip setpoint is {trip_psi} psi",
            "Walked through lube oil pressure diagnosis for the {model}: verify the transmitter, check filter DP, "
            "inspect the PCV and look for leaks at the bearing feeds")),
        "vibration_alarm": ("vibration", (
            "Vibration alarm on bearing {bearing} of {unit}, reading {mms} mm/s. What should I do?",
            "High vibration on the {model} gas generator after the compressor wash, is it safe to keep running?",
            "What does vibration alarm VT-{bearing}01 mean on {unit}?",
            "Vibration keeps spiking on {unit} at {load}% load"), (
            "Explained vibration alarm (12.7 mm/s) and trip (25.4 mm/s) levels; advised reducing load, checking "
            "probe gap voltage and trending the reading",
            "Advised verifying the reading against the redundant probe, checking for a loose connector and "
            "reducing load if vibration keeps rising")),
        "oil_temperature": ("lube_oil", (
            "Lube oil drain temperature on bearing {bearing} is {oil_temp} °C, is that too high?",
            "High lube oil temperature alarm on {unit}, cooler fans are running. What next?",
            "Why does the oil temperature creep up on the {model} on hot afternoons?"), (
            "Explained oil temperature limits for the {model} (alarm 82 °C, trip 90 °C) and checks on cooler fans, "
            "the thermostatic valve and cooler fouling",
            "Suggested checking the oil cooler bypass valve and cooler fouling; compare drain temperatures across "
            "bearings")),
        "fuel_system": ("fuel", (
            "Fuel gas supply pressure is fluctuating on the {model}, what could cause it?",
            "Fuel valve position feedback fault on {unit}, code {code}",
            "What does fuel system fault {code} mean?",
            "{unit} won't hold load, the fuel control valve is hunting"), (
            "Fault {code}: fuel metering valve position mismatch; suggested checking LVDT feedback, actuator supply "
            "and fuel gas filter DP",
            "Listed causes of fuel pressure fluctuation: upstream regulator, clogged strainer, actuator hunting; "
            "recommended checking the fuel gas skid pressure trend")),
        "flameout": ("combustion", (
            "{unit} tripped on flameout during a load change, what should I check first?",
            "Flame detector lost signal on {unit} and the unit tripped",
            "Why would the {model} flame out at low load?"), (
            "Flameout checklist: fuel supply pressure at trip, flame detector lenses, igniter and combustor liner "
            "inspection before restart",
            "Recommended reviewing the trip log, checking flame scanners and fuel supply stability before a "
            "restart attempt")),
        "exhaust_spread": ("combustion", (
            "High exhaust temperature spread on {unit}, thermocouple {tc} reading {spread} °C low",
            "Exhaust spread alarm on the {model}, is it a thermocouple fault or a combustion issue?"), (
            "Explained how to tell a failed thermocouple from a combustion problem: compare neighbouring "
            "thermocouples and check the pattern against fuel nozzle positions",
            "Suggested replacing thermocouple {tc} if its neighbours read normal, otherwise plan a combustor "
            "borescope")),
        "start_failure": ("start", (
            "{model} failed to start, starter engaged but no light-off",
            "Start sequence aborted at purge on {unit}, what do I check?",
            "{unit} hung start, speed stuck at {hung}%"), (
            "Start failure checks: igniter spark, fuel valve opening at light-off, purge timer and starter clutch; "
            "reviewed the start permissives",
            "Hung start: likely low starter torque or compressor fouling; suggested checking the starter supply and "
            "a crank wash")),
    },
    "procedure": {
        "startup": ("start", (
            "What's the startup procedure for {model}?",
            "Walk me through a cold start on {unit}",
            "What are the start permissives for the {model}?",
            "Steps to restart {unit} after a trip?"), (
            "Gave the {model} start sequence: pre-start checks, lube oil and permissives, crank and purge, "
            "light-off, acceleration to idle and synchronisation",
            "Listed restart steps after a trip: confirm the trip cause is cleared, reset lockouts, 20-minute "
            "cooldown, then the normal start sequence")),
        "compressor_wash": ("compressor", (
            "How do I do an offline compressor wash on the {model}?",
            "Online wash procedure and detergent ratio for {unit}?",
            "How often should we run compressor washes on {unit}?"), (
            "Offline wash: cool wheelspace below 65 °C, crank speed, inject detergent 1:4, soak 20 minutes, rinse "
            "cycles and a dry run",
            "Online wash at base load with approved detergent; frequency set by inlet conditions and the compressor "
            "efficiency trend")),
        "filter_change": ("lube_oil", (
            "How do I change over the duplex lube oil filters on {unit} while it's running?",
            "Procedure to replace the lube oil filter element on the {model}",
            "Oil filter DP is {filter_dp} bar, how do I swap filters?"), (
            "Duplex filter changeover: fill and vent the standby filter, rotate the transfer valve slowly, watch "
            "header pressure, then isolate and replace the element",
            "Filter element replacement steps with torque values and venting; change over above 1.0 bar "
            "differential pressure")),
        "shutdown": ("start", (
            "What's the normal shutdown procedure for {unit}?",
            "How long does the cooldown need to run after shutting down the {model}?",
            "Emergency stop vs normal stop on the {model}, what's the difference?"), (
            "Normal stop: unload at the set ramp rate, open the breaker, run at idle {cool} minutes, fuel off, "
            "rundown onto turning gear",
            "Explained cooldown and turning gear requirements after shutdown to avoid rotor bow")),
        "fuel_changeover": ("fuel", (
            "Procedure to switch {unit} from gas to liquid fuel?",
            "How do I do a fuel transfer on the {model} under load?"), (
            "Fuel transfer steps: confirm liquid fuel permissives, purge liquid lines, start the transfer above "
            "30 % load and watch exhaust spread",)),
        "alarm_reset": ("vibration", (
            "How do I reset the vibration alarm on {unit} after it clears?",
            "How do I acknowledge and reset a latched trip on the {model}?"), (
            "Explained acknowledge vs reset: the latched alarm resets from the HMI once the reading stays below the "
            "alarm level for 30 s",)),
    },
    "status_check": {
        "unit_status": ("general", (
            "What's the current status of {unit}?",
            "Is {unit} running at full load right now?",
            "Current load and exhaust temperature on {unit}?",
            "Status of {unit} please"), (
            "{unit} running at {load}% load, exhaust {egt} °C, no active trips",
            "{unit} on standby and available for start; last run ended {ago} hours ago")),
        "run_hours": ("maintenance", (
            "How many fired hours does {unit} have since the last hot section inspection?",
            "Run hours on the {model} at {site}?",
            "How many starts has {unit} done this year?"), (
            "{unit} has {hours} fired hours since the last hot section inspection, {left} hours to the next one",
            "{unit}: {hours} fired hours and {starts} starts since the last major inspection")),
        "active_alarms": ("vibration", (
            "Any active alarms on {unit}?",
            "Show me the alarm log for {unit} since midnight",
            "What alarms came in on {unit} overnight?"), (
            "{unit} has {alarms} active alarms: filter DP high and an enclosure ventilation warning",
            "Summarised {alarms} alarms since midnight on {unit}, none trip-related")),
        "emissions": ("combustion", (
            "What are the NOx readings on {unit} today?",
            "Is {unit} within its emissions permit this week?"), (
            "{unit} NOx averaging {nox} ppm at 15 % O2, within the permit limit of 25 ppm",)),
    },
    "maintenance": {
        "schedule": ("maintenance", (
            "When is the next scheduled maintenance for {unit}?",
            "What's due on the {model} at the 4,000-hour inspection?",
            "Can we push the next inspection on {unit} back two weeks?"), (
            "Next planned maintenance on {unit}: combustion inspection in {days_to} days ({left} fired hours)",
            "Listed the 4,000-hour scope for the {model}: borescope, igniters, fuel nozzles, filter elements and "
            "instrument calibration")),
        "parts": ("lube_oil", (
            "Do we have spare igniters for the {model} in stock?",
            "Part number for the lube oil filter element on the {model}?",
            "Order two fuel nozzle gaskets for {unit}"), (
            "Found part {part} for the {model}; {stock} in stock at {site} stores",
            "Part {part} is not in local stock; lead time {lead} days from the central warehouse")),
        "borescope": ("combustion", (
            "When is the borescope inspection due on {unit}?",
            "What should I look for in a borescope of the {model} combustor?"), (
            "Borescope due in {left} fired hours; covered inspection points for combustor liners, transition pieces "
            "and first-stage nozzles",)),
        "inlet_filters": ("compressor", (
            "Inlet air filter DP is {inh} inH2O on {unit}, when should we replace the filters?",
            "How often do the inlet filters need changing on the {model}?"), (
            "Inlet filters: replace at 5 inH2O differential pressure or yearly; plan the change for the next "
            "outage",)),
        "work_order": ("fuel", (
            "Can you raise a work order for the fuel skid leak on {unit}?",
            "Create a maintenance request: {unit} enclosure fan is noisy"), (
            "Drafted work order {wo} for {unit} at priority 3 and routed it to the maintenance planner",)),
    },
    "safety": {
        "lockout_tagout": ("fuel", (
            "What's the lockout/tagout procedure before working on the fuel skid?",
            "Which isolation points do I need to lock out on the {model} enclosure?",
            "Do I need to isolate the starter before entering the enclosure on {unit}?",
            "LOTO for the lube oil pump on {unit}?"), (
            "LOTO steps: permit to work, isolate fuel and starter, bleed fuel lines, apply personal locks, verify "
            "zero energy before work",
            "Listed isolation points for the {model} enclosure: fuel gas block-and-bleed, starter MCC, CO2 system "
            "inhibit, lube oil pumps")),
        "gas_leak": ("fuel", (
            "Gas detector in the {unit} enclosure reading {lel}% LEL, what do I do?",
            "Smell of gas near the fuel skid at {site}, what's the procedure?"), (
            "Gas detection: at 10 % LEL investigate from outside, at 20 % LEL the unit trips and ventilation runs; "
            "do not enter, follow the site emergency procedure",)),
        "fire_system": ("combustion", (
            "How do I inhibit the CO2 fire system before entering the enclosure?",
            "CO2 discharge warning on {unit}, is it safe to go in?"), (
            "Never enter after a CO2 discharge until the enclosure is ventilated and gas-tested; inhibit and lock "
            "out the system before entry",)),
        "ppe": ("compressor", (
            "What PPE do I need for the compressor wash?",
            "What PPE is required to work near the hot exhaust on {unit}?"), (
            "PPE: chemical gloves and face shield for detergent, hearing protection in the enclosure, "
            "heat-resistant gloves near the exhaust",)),
    },
    "documentation": {
        "manual": ("lube_oil", (
            "Where can I find the O&M manual for the {model}?",
            "Send me the lube oil system section of the {model} manual",
            "Which chapter of the {model} manual covers vibration limits?"), (
            "Linked the {model} O&M manual, chapter {chapter}",
            "Shared the relevant section of the {model} operation and maintenance manual ({pages} pages)")),
        "drawings": ("fuel", (
            "Where's the P&ID for the fuel gas skid on {unit}?",
            "I need the wiring diagram for the vibration monitoring on {unit}"), (
            "Linked drawing {drawing} (rev {rev}) from the document library",)),
        "service_bulletins": ("combustion", (
            "Are there any service bulletins for the {model} fuel nozzles?",
            "Latest service bulletins for the {model}?"), (
            "Found {bulletins} service bulletins for the {model}; the latest covers fuel nozzle coking",)),
        "procedure_docs": ("compressor", (
            "Link to the compressor wash procedure document please",
            "Where is the written start-up checklist for {unit}?"), (
            "Linked controlled document {doc} (issue {rev}) from the site procedures library",)),
    },
    "fallback": {
        "off_topic": ("none", (
            "What's the weather in {site} tomorrow?", "Can you reset my SAP password?", "tell me a joke",
            "Who won the match last night?", "Book me a meeting room for 2pm", "what's for lunch in the canteen",
            "hello?", "asdfgh", "Can you translate this into Spanish?",
            "How do I claim overtime for the weekend shift?"), (
            "Out of scope: explained the assistant covers turbine operations, maintenance and safety",
            "Could not match the request; suggested rephrasing or contacting the IT service desk")),
    },
}
UNSURE_RESPONSES = ("Not confident about this for the {model}; pointed to the O&M manual and suggested confirming "
                    "with the turbine desk",
                    "Gave a general answer; could not find a {model}-specific reference",
                    "Asked the user to clarify which unit and which alarm they mean")
HANDOVER_QUERIES = ("I need to speak to an engineer about this", "Can you put me through to the turbine desk?",
                    "This isn't helping, get me a human please", "Escalate this to the on-call engineer",
                    "Can someone from {site} maintenance call me?")
HANDOVER_RESPONSE = "Handed the conversation to the {queue} queue; a colleague will pick it up (ticket {ticket})"
SHORTHAND = (("temperature", "temp"), ("pressure", "press"), ("procedure", "proc"), ("please", "pls"))
FEEDBACK_COMMENTS = {
    "good": ("Spot on, thanks", "Saved me digging through the manual", "Quick and clear", "Exactly what I needed"),
    "bad": ("Answer was for the wrong model", "Too generic to be useful", "Took too long to get to a person",
            "Didn't understand the question", "Steps didn't match our site procedure"),
}
FIRST_NAMES = ("James", "Sarah", "Mohammed", "Emma", "Callum", "Priya", "Tom", "Fiona", "Daniel", "Aisha", "Craig",
               "Megan", "Luis", "Hannah", "Kevin", "Chloe", "Jamal", "Rachel", "Andrew", "Olivia", "Stuart", "Maria",
               "Ryan", "Grace", "Ewan", "Nadia", "Carlos", "Laura", "Ian", "Beth")
LAST_NAMES = ("Macdonald", "Patel", "Reilly", "Okafor", "Hughes", "Campbell", "Garcia", "Thompson", "Stewart",
              "Nguyen", "Fraser", "Walker", "Robertson", "Hernandez", "Murray", "Clarke", "Johnson", "Ross",
              "Kowalski", "Begum", "Sinclair", "Martinez", "Duncan", "Brown", "Ali", "Ferguson", "Wright", "Lopez")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_naive(t: datetime) -> str:
    """UTC without a zone, as Python's ``datetime.utcnow().isoformat()`` writes it."""
    return t.replace(tzinfo=None).isoformat()


def _iso_ms(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


def _gap(rng: random.Random, median_s: float, sigma: float, low_s: float, high_s: float) -> timedelta:
    """A skewed waiting time (log-normal, clamped to a plausible range), to the millisecond."""
    seconds = min(high_s, max(low_s, rng.lognormvariate(math.log(median_s), sigma)))
    return timedelta(milliseconds=round(seconds * 1000))


def _weighted(rng: random.Random, table: dict) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _users(rng: random.Random, sessions_per_day: int) -> dict[str, list[dict]]:
    """The assistant's users by country: a site, a role, a usual channel and device, and how active they are.

    Most users are known by a directory id (``user-<n>``); some clients sign in with the user's e-mail address.
    A few power users (night-shift leads, planners) open many more sessions than anyone else.
    """
    count = max(12, sessions_per_day // 3)
    numbers = iter(rng.sample(range(1001, 9999), count + len(COUNTRIES) * 4))
    taken: set = set()
    by_country: dict[str, list[dict]] = {}
    for country, (share, _, _) in COUNTRIES.items():
        sites = [site for site, spec in SITES.items() if spec[0] == country]
        users = [_user(rng, next(numbers), rng.choices(sites, weights=[SITES[s][3] for s in sites])[0], taken)
                 for _ in range(max(4, round(count * share)))]
        for user in rng.sample(users, max(1, round(POWER_USERS * share))):
            user["weight"] *= POWER_USER_WEIGHT
        by_country[country] = users
    return by_country


def _user(rng: random.Random, number: int, site: str, taken: set) -> dict:
    """One user of a site: their name, role (which sets the agent their client opens) and usual channel."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    role = _weighted(rng, {name: share for name, (share, _) in ROLES.items()})
    channel = _weighted(rng, {name: share for name, (share, _) in CHANNELS.items()})
    email = f"{first[0].lower()}.{last.lower()}@{SITES[site][1]}"
    if email in taken:
        email = email.replace("@", f"{number % 100}@")
    user_id = email if rng.random() < EMAIL_USER_ID_SHARE else f"user-{number}"
    taken.add(user_id)
    return {"user_id": user_id, "name": f"{first} {last}", "site": site, "country": SITES[site][0], "role": role,
            "agent": ROLES[role][1], "channel": channel, "platform": rng.choice(CHANNELS[channel][1]),
            "weight": rng.lognormvariate(0, 0.4)}


def _session_starts(rng: random.Random, start: datetime, end: datetime, sessions_per_day: int) -> list[tuple]:
    """(start time, country) of ordinary sessions in time order: per country a Poisson process over its local
    working day, to the millisecond."""
    return sorted(
        (started, country)
        for country, (share, offset, _) in COUNTRIES.items()
        for started in poisson_arrivals(rng, start, end, sessions_per_day * share, DAY_FACTORS, LOCAL_HOUR_WEIGHTS,
                                        local_time=lambda hour, offset=offset: hour + timedelta(hours=offset),
                                        precision=timedelta(milliseconds=1))
    )


def _night_shift_starts(rng: random.Random, start: datetime, end: datetime) -> Iterator[datetime]:
    """Most nights a UK night-shift operator starts a long troubleshooting session at 23:35-23:55 UTC."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        started = day + timedelta(hours=23, minutes=rng.randint(35, 55), seconds=rng.randint(0, 59))
        if rng.random() < NIGHT_SHIFT_SHARE and start <= started <= end:
            yield started
        day += timedelta(days=1)


def _fillers(rng: random.Random, site: str, unit: str, model: str) -> dict:
    """The readings, codes and references one session talks about (the same ones in every turn)."""
    return {
        "site": site, "unit": unit, "model": model, "psi": rng.randint(14, 24), "trip_psi": 12,
        "oil_temp": rng.randint(78, 94), "bearing": rng.randint(1, 6), "mms": f"{rng.uniform(7.5, 15.5):.1f}",
        "code": f"F{rng.randint(100, 899)}", "tc": rng.randint(1, 18), "spread": rng.randint(25, 80),
        "hung": rng.randint(35, 55), "cool": rng.choice((10, 15, 20)), "filter_dp": f"{rng.uniform(0.9, 1.6):.1f}",
        "load": rng.randint(40, 100), "egt": rng.randint(480, 560), "ago": rng.randint(2, 60),
        "hours": f"{rng.randint(800, 23000):,}", "left": f"{rng.randint(150, 4000):,}", "starts": rng.randint(12, 240),
        "alarms": rng.randint(1, 5), "nox": rng.randint(9, 24), "days_to": rng.randint(3, 90),
        "part": f"SMT-{rng.randint(10000, 99999)}", "stock": rng.randint(1, 12), "lead": rng.randint(3, 42),
        "inh": f"{rng.uniform(3.2, 6.4):.1f}", "wo": f"WO-{rng.randint(200000, 299999)}",
        "lel": rng.choice((8, 12, 15, 22)), "chapter": rng.randint(2, 14), "pages": rng.randint(4, 60),
        "drawing": f"{site[:3].upper()}-P-{rng.randint(1000, 9999)}",
        "rev": rng.choice("BCDEF"), "bulletins": rng.randint(1, 6), "doc": f"OP-{rng.randint(100, 499)}",
    }


def _topic(rng: random.Random, intent: str, system: str | None) -> str:
    """A topic of the intent, on the same plant system as the previous question when there is one (mostly)."""
    topics = list(TOPICS[intent])
    related = [t for t in topics if TOPICS[intent][t][0] == system]
    if related and rng.random() < SAME_SYSTEM_SHARE:
        return rng.choice(related)
    # The first topics of each intent are the everyday ones (oil pressure, vibration, start-up ...).
    return rng.choices(topics, weights=[3 if n < 2 else 1 for n in range(len(topics))])[0]


def _luhn_card(rng: random.Random) -> str:
    """A 16-digit Visa/Mastercard-style number with a valid check digit, grouped by spaces or dashes."""
    digits = [4] if rng.random() < 0.5 else [5, rng.randint(1, 5)]
    digits += [rng.randint(0, 9) for _ in range(15 - len(digits))]
    total = 0
    for n, d in enumerate(reversed(digits)):
        total += sum(divmod(d * 2, 10)) if n % 2 == 0 else d
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return rng.choice((" ", "-")).join(text[i:i + 4] for i in range(0, 16, 4))


def _phone(rng: random.Random, country: str) -> str:
    if country == "uk":
        return rng.choice((f"+44 7700 900{rng.randint(0, 999):03d}", f"07700 900{rng.randint(0, 999):03d}",
                           f"+44 (0)1224 {rng.randint(100000, 999999)}", f"01642 {rng.randint(100000, 999999)}"))
    area = rng.choice(("713", "281", "361", "832"))
    return rng.choice((f"({area}) 555-01{rng.randint(0, 99):02d}", f"+1 {area}-555-01{rng.randint(0, 99):02d}",
                       f"{area}.555.01{rng.randint(0, 99):02d}"))


def _with_pii(rng: random.Random, query: str, user: dict, intent: str) -> str:
    """The question with personal data typed into it: the kind of thing the lake must redact.

    Names, e-mail addresses and phone numbers turn up anywhere; card numbers when ordering parts or raising work.
    """
    weights = (20, 20, 45, 15) if intent == "maintenance" else (35, 35, 0, 30)
    kind = rng.choices(("email", "phone", "card", "name"), weights=weights)[0]
    first, last = user["name"].split(" ", 1)
    if kind == "name":
        opener = rng.choice((f"Hi, my name is {first} {last}. ", f"my name is {first} {last} from {user['site']}, ",
                             f"Hello, my name is {first}. "))
        return opener + query[0].lower() + query[1:] if opener.endswith(", ") else opener + query
    query = query if query[-1] in "?.!" else query + "."
    if kind == "email":
        other = f"{rng.choice(FIRST_NAMES).lower()}.{rng.choice(LAST_NAMES).lower()}@{SITES[user['site']][1]}"
        return query + rng.choice((f" Please send the details to {other}", f" cc {other} on the answer",
                                   f" My email is {other}"))
    if kind == "phone":
        return query + rng.choice((f" Call me on {_phone(rng, user['country'])} if you need more info.",
                                   f" my number is {_phone(rng, user['country'])}"))
    return query + rng.choice((f" Can I put it on my company card {_luhn_card(rng)}?",
                               f" Card number for the purchase order: {_luhn_card(rng)}"))


def _shorthand(query: str) -> str:
    """How a question looks typed on a phone in a hurry: lower case, abbreviated, no punctuation."""
    text = query.lower().rstrip("?.! ")
    for word, short in SHORTHAND:
        text = text.replace(word, short)
    return text


def _confidence(rng: random.Random, intent: str, hurried: bool) -> float:
    """The assistant's confidence in its answer: high for clear turbine questions, low off-topic or when hurried."""
    if intent == "fallback":
        value = rng.uniform(0.12, 0.55)
    else:
        value = rng.betavariate(12, 1.8) - (rng.uniform(0.08, 0.3) if hurried else 0)
    return round(min(0.99, max(0.05, value)), 3)


def _response_ms(rng: random.Random, intent: str) -> int:
    """Answer latency: retrieval-heavy answers (documents, procedures) are slower, refusals fast, a slow tail."""
    median = {"documentation": 2600, "procedure": 2400, "fallback": 900}.get(intent, 1800)
    ms = rng.lognormvariate(math.log(median), 0.45) * (rng.uniform(3, 6) if rng.random() < 0.01 else 1)
    return round(min(25000, max(350, ms)))


def _sentiment(rng: random.Random, intent: str, topic: str, unsure_before: int) -> str:
    """The user's tone: annoyed after unhelpful answers, tense during alarms and gas leaks, mostly neutral."""
    tense = topic in ("gas_leak", "flameout", "vibration_alarm")
    negative = min(0.8, 0.06 + 0.35 * min(unsure_before, 2) + (0.2 if tense else 0))
    positive = 0.12 if intent in ("documentation", "status_check", "procedure") else 0.06
    neutral = max(0.0, 1 - negative - positive)
    return rng.choices(("negative", "positive", "neutral"), weights=(negative, positive, neutral))[0]


def _turn(rng: random.Random, session: dict, intent: str, topic: str, asked: datetime, unsure_before: int) -> dict:
    """One question and answer: the text typed, the summary of the answer, confidence and latency."""
    user, fill = session["user"], session["fill"]
    _, questions, answers = TOPICS[intent][topic]
    hurried = (session["channel"] == "mobile" and rng.random() < 0.25) or rng.random() < 0.04
    asked_before = {t["template"] for t in session["turns"]}
    template = rng.choice([q for q in questions if q not in asked_before] or questions)
    query = template.format(**fill)
    query = _shorthand(query) if hurried else query
    if rng.random() < PII_RATE:
        query = _with_pii(rng, query, user, intent)
    confidence = _confidence(rng, intent, hurried)
    answer = rng.choice(answers if confidence >= LOW_CONFIDENCE or intent == "fallback" else UNSURE_RESPONSES)
    response_ms = _response_ms(rng, intent)
    return {"intent": intent, "topic": topic, "template": template, "query": query, "response": answer.format(**fill),
            "confidence": confidence, "response_ms": response_ms, "asked": asked,
            "answered": asked + timedelta(milliseconds=response_ms),
            "sentiment": _sentiment(rng, intent, topic, unsure_before)}


def _handover_turn(rng: random.Random, session: dict, asked: datetime) -> dict:
    """The user asks for a person; the assistant hands the conversation to the agent's human queue."""
    queue = HANDOVER_QUEUES[session["agent_id"]]
    response_ms = _response_ms(rng, "fallback")
    query = rng.choice(HANDOVER_QUERIES).format(**session["fill"])
    return {"intent": "handover", "topic": "human_handover", "template": None, "query": query,
            "response": HANDOVER_RESPONSE.format(queue=queue, ticket=f"INC{rng.randint(1000000, 9999999)}"),
            "confidence": round(rng.uniform(0.9, 0.99), 3), "response_ms": response_ms, "asked": asked,
            "answered": asked + timedelta(milliseconds=response_ms), "sentiment": rng.choice(("negative", "neutral"))}


def _planned_turns(rng: random.Random, intent: str) -> int:
    """How many questions the user means to ask: often one or two, troubleshooting runs longer."""
    p = 0.3 if intent == "troubleshooting" else 0.42
    turns = 1
    while turns < 10 and rng.random() > p:
        turns += 1
    return turns


def _session(rng: random.Random, ids: set, user: dict, started: datetime, night: bool = False) -> dict:
    """One conversation as it happened: routing, turns and how it ended (resolved, escalated or dropped).

    After each answer the user may get handed to a human (more likely after an unsure answer or on safety
    questions), walk away (more likely after an unsure or off-topic answer) or ask the next planned question,
    which follows the usual flows and mostly stays on the same plant system.
    """
    channel = user["channel"] if rng.random() < 0.8 else rng.choice([c for c in CHANNELS if c != user["channel"]])
    platform = user["platform"] if channel == user["channel"] else rng.choice(CHANNELS[channel][1])
    unit, model = rng.choice(SITES[user["site"]][2])
    intent = "troubleshooting" if night else _weighted(rng, FIRST_INTENT)
    agent = AGENT_FOR_INTENT[intent] if rng.random() < 0.7 else user["agent"]
    session = {"session_id": new_id(rng, "session", 12, ids), "user": user, "agent_id": agent, "channel": channel,
               "platform": platform, "started": started,
               "producer": _producer(rng.random()),
               "fill": _fillers(rng, user["site"], unit, model), "turns": [], "escalation": None}
    planned = rng.randint(5, 9) if night else _planned_turns(rng, intent)
    topic = _topic(rng, intent, None)
    asked = started + _gap(rng, 12, 0.7, 2, 120)
    unsure = 0
    outcome = "resolved"
    for n in range(1, planned + 1):
        turn = _turn(rng, session, intent, topic, asked, unsure)
        session["turns"].append(turn)
        low = turn["confidence"] < LOW_CONFIDENCE
        unsure = unsure + 1 if low else 0
        escalate = ESCALATION_BASE[intent] + (0.12 if low else 0) + (0.15 if unsure >= 2 else 0)
        drop = 0.03 + (0.2 if turn["confidence"] < 0.6 else 0.08 if low else 0) + (0.1 if intent == "fallback" else 0)
        draw = rng.random()
        if draw < escalate:
            outcome = "escalated"
            break
        if draw < escalate + drop:
            outcome = "dropped"
            break
        if n < planned:
            previous = TOPICS[intent][topic][0]
            intent = "fallback" if rng.random() < FALLBACK_INTERJECTION else _weighted(rng, FLOWS[intent])
            topic = _topic(rng, intent, previous)
            think = (150, 0.8) if night else (70, 0.9)
            asked = turn["answered"] + _gap(rng, *think, 8, 20 * 60)
    last = session["turns"][-1]
    if outcome == "escalated":
        if rng.random() < 0.5:
            reason = "user_requested"
            session["turns"].append(_handover_turn(rng, session, last["answered"] + _gap(rng, 20, 0.7, 3, 300)))
        elif last["intent"] == "safety" and not last["confidence"] < LOW_CONFIDENCE:
            reason = "safety_critical"
        else:
            reason = "repeated_low_confidence" if unsure >= 2 else "low_confidence" if unsure else "unresolved"
        at = session["turns"][-1]["answered"] + timedelta(milliseconds=rng.randint(300, 4000))
        session["escalation"] = {"at": at, "reason": reason, "queue": HANDOVER_QUEUES[agent],
                                 "turn": len(session["turns"])}
        session["active_until"], session["reason"] = at, "escalated"
        session["ended"] = at + timedelta(milliseconds=rng.randint(200, 2500))
    elif outcome == "dropped":
        session["active_until"] = last["answered"]
        closed = rng.random() < CLOSED_WITHOUT_END
        session["reason"] = "closed" if closed else "timeout"
        session["ended"] = None if closed else last["answered"] + IDLE_TIMEOUT
    else:
        session["active_until"] = last["answered"] + _gap(rng, 40, 0.8, 3, 600)
        session["ended"], session["reason"] = session["active_until"], "resolved"
    session["feedback"] = _feedback(rng, session)
    return session


def _feedback(rng: random.Random, session: dict) -> dict | None:
    """A thumbs-up/down style rating some users leave before closing: mostly good when resolved, poor when escalated."""
    chance = {"resolved": 0.1, "escalated": 0.15}.get(session["reason"], 0)
    if rng.random() >= chance:
        return None
    weights = (3, 5, 12, 35, 45) if session["reason"] == "resolved" else (35, 30, 20, 10, 5)
    rating = rng.choices((1, 2, 3, 4, 5), weights=weights)[0]
    comment = rng.choice(FEEDBACK_COMMENTS["good" if rating >= 4 else "bad"]) if rng.random() < 0.4 else None
    at = session["turns"][-1]["answered"] + _gap(rng, 15, 0.6, 2, 120)
    if session["ended"] is not None and at >= session["ended"]:
        at = session["ended"] - timedelta(milliseconds=100)
    return {"at": at, "rating": rating, "comment": comment}


def _eventbridge(rng: random.Random, t: datetime, detail_type: str, detail: dict) -> dict:
    return {"version": "0", "id": _uuid(rng), "detail-type": detail_type, "source": EVENT_SOURCE,
            "account": AWS_ACCOUNT, "time": _iso(t), "region": AWS_REGION, "resources": [], "detail": detail}


def _eventbridge_events(rng: random.Random, s: dict) -> list[tuple[datetime, dict]]:
    """The session as the assistant backend publishes it to EventBridge: a Query Processed per answer, a Session
    Completed when the session closes (never for a closed client), sometimes a Feedback Submitted."""
    who = {"session_id": s["session_id"], "user_id": s["user"]["user_id"], "agent_id": s["agent_id"]}
    events = []
    for n, turn in enumerate(s["turns"], 1):
        at = turn["answered"]
        events.append((at, _eventbridge(rng, at, "Query Processed", {
            **who, "query": turn["query"], "response_summary": turn["response"],
            "metadata": {"timestamp": _iso(at), "turn": n, "confidence_score": turn["confidence"],
                         "response_time_ms": turn["response_ms"], "channel": s["channel"]}})))
    if s["feedback"]:
        at, feedback = s["feedback"]["at"], s["feedback"]
        detail = {**who, "rating": feedback["rating"]}
        if feedback["comment"]:
            detail["comment"] = feedback["comment"]
        detail["metadata"] = {"timestamp": _iso(at), "channel": s["channel"]}
        events.append((at, _eventbridge(rng, at, "Feedback Submitted", detail)))
    if s["ended"] is not None:
        at = s["ended"]
        events.append((at, _eventbridge(rng, at, "Session Completed", {
            **who, "turns": len(s["turns"]), "resolved": s["reason"] == "resolved",
            "escalated": s["reason"] == "escalated", "duration_ms": _ms(s["active_until"] - s["started"]),
            "metadata": {"timestamp": _iso(at)}})))
    return events


def _producer(draw: float) -> str:
    """Which client reports the session: EventBridge, the chat SDK (seed 003's model) or its older version."""
    if draw < EVENTBRIDGE_SHARE:
        return "eventbridge"
    return "chat_sdk" if draw < EVENTBRIDGE_SHARE + CHAT_SDK_SHARE else "older_chat_sdk"


# The workflows a turn starts (by topic): what the assistant does besides answering.
WORKFLOWS = {"unit_status": "read_unit_status", "run_hours": "read_run_hours", "active_alarms": "read_alarm_log",
             "emissions": "read_emissions", "work_order": "raise_work_order", "parts": "order_part",
             "schedule": "read_maintenance_plan"}
HISTORIAN_WORKFLOWS = ("read_unit_status", "read_run_hours", "read_alarm_log", "read_emissions")


def _event_writer(rng: random.Random, s: dict, timestamp, location: str | None = None):
    """``event(at, event_type, data, **measures)`` → (at, the AnalyticsEvent-shaped record) for session ``s``;
    ``timestamp`` writes the time (the two SDKs differ), ``location`` only the newer SDK sends."""
    base = {"session_id": s["session_id"], "user_id": s["user"]["user_id"], "agent_id": s["agent_id"]}
    context = {"channel": s["channel"], "platform": s["platform"], **({"location": location} if location else {})}

    def event(at: datetime, event_type: str, data: dict, **measures) -> tuple[datetime, dict]:
        return at, {"event_id": _uuid(rng), "event_type": event_type, "timestamp": timestamp(at), **base,
                    "data": data, **context, "duration_ms": measures.get("duration_ms"),
                    "response_time_ms": measures.get("response_time_ms"), "confidence": measures.get("confidence"),
                    "sentiment": measures.get("sentiment")}

    return event


def _analytics_events(rng: random.Random, s: dict) -> list[tuple[datetime, dict]]:
    """The session as the chat SDK tracks it: seed 003's AnalyticsEvent, every field present (null if unused), the
    timestamp naive UTC. The NLU's intent and confidence per message, workflows with their outcome, a handover as
    a ``custom`` event flagged ``escalated_to_human`` (the flag the seed's automation rate reads)."""
    event = _event_writer(rng, s, _iso_naive, location=s["user"]["site"])
    locale = COUNTRIES[s["user"]["country"]][2]
    events = [event(s["started"], "conversation_start", {"entry_point": ENTRY_POINTS[s["channel"]], "locale": locale})]
    for n, turn in enumerate(s["turns"], 1):
        events.append(event(turn["asked"], "user_message", {"text": turn["query"], "turn": n},
                            sentiment=turn["sentiment"]))
        nlu_ms = rng.randint(40, 250)
        classified = turn["asked"] + timedelta(milliseconds=nlu_ms)
        events.append(event(classified, "intent_classified", {"intent": turn["intent"], "sub_intent": turn["topic"]},
                            confidence=turn["confidence"], duration_ms=nlu_ms))
        if turn["intent"] not in ("fallback", "handover"):
            events.append(event(classified, "entity_extracted",
                                {"entities": [{"type": "unit", "value": s["fill"]["unit"]},
                                              {"type": "turbine_model", "value": s["fill"]["model"]}]}))
        workflow = WORKFLOWS.get(turn["topic"])
        if workflow:
            events += _workflow_events(rng, event, workflow, classified, turn)
        timed = rng.random() >= UNTIMED_RESPONSE
        events.append(event(turn["answered"], "bot_response", {"text": turn["response"], "turn": n},
                            response_time_ms=turn["response_ms"] if timed else None, confidence=turn["confidence"]))
    if s["escalation"]:
        e = s["escalation"]
        events.append(event(e["at"], "custom", {"name": "human_handover", "escalated_to_human": True,
                                                "reason": e["reason"], "queue": e["queue"], "turn": e["turn"]}))
    if s["feedback"]:
        f = s["feedback"]
        data = {"rating": f["rating"], **({"comment": f["comment"]} if f["comment"] else {})}
        events.append(event(f["at"], "user_feedback", data, sentiment="positive" if f["rating"] >= 4 else
                            "negative" if f["rating"] <= 2 else "neutral"))
    if s["ended"] is not None:
        data = {"reason": s["reason"], "resolved": s["reason"] == "resolved", "turns": len(s["turns"])}
        events.append(event(s["ended"], "conversation_end", data, duration_ms=_ms(s["active_until"] - s["started"])))
    return events


def _workflow_events(rng: random.Random, event, workflow: str, classified: datetime, turn: dict) -> list:
    """A workflow the turn starts once its intent is known, finished (or failed) just before the answer; a
    historian read goes through an api_call; a failure reports an error."""
    started = classified + timedelta(milliseconds=rng.randint(10, 80))
    finished = max(started + timedelta(milliseconds=5), turn["answered"] - timedelta(milliseconds=rng.randint(20, 200)))
    failed = rng.random() < WORKFLOW_FAILURE + (0.1 if turn["confidence"] < LOW_CONFIDENCE else 0)
    events = [event(started, "workflow_started", {"workflow": workflow})]
    if workflow in HISTORIAN_WORKFLOWS:
        status = 504 if failed else 200
        events.append(event(started, "api_call", {"api": "plant_historian", "status": status},
                            duration_ms=_ms(finished - started)))
    if failed:
        events.append(event(finished, "error", {"source": workflow, "message": "upstream timeout"}))
    events.append(event(finished, "workflow_failed" if failed else "workflow_completed", {"workflow": workflow},
                        duration_ms=_ms(finished - started)))
    return events


def _plain_events(rng: random.Random, s: dict) -> list[tuple[datetime, dict]]:
    """The session as the older chat SDK tracks it: the AnalyticsEvent shape with its own event words."""
    event = _event_writer(rng, s, _iso_ms)
    locale = COUNTRIES[s["user"]["country"]][2]
    events = [event(s["started"], "session_started", {"entry_point": ENTRY_POINTS[s["channel"]], "locale": locale})]
    for n, turn in enumerate(s["turns"], 1):
        events.append(event(turn["asked"], "message_received", {"text": turn["query"], "turn": n},
                            sentiment=turn["sentiment"]))
        events.append(event(turn["answered"], "response_sent", {"text": turn["response"], "turn": n},
                            response_time_ms=turn["response_ms"], confidence=turn["confidence"]))
    if s["escalation"]:
        e = s["escalation"]
        data = {"reason": e["reason"], "queue": e["queue"], "turn": e["turn"]}
        events.append(event(e["at"], "escalated_to_human", data))
    if s["feedback"]:
        f = s["feedback"]
        data = {"rating": f["rating"], **({"comment": f["comment"]} if f["comment"] else {})}
        events.append(event(f["at"], "feedback", data, sentiment="positive" if f["rating"] >= 4 else
                            "negative" if f["rating"] <= 2 else "neutral"))
    if s["ended"] is not None:
        events.append(event(s["ended"], "session_ended", {"reason": s["reason"], "resolved": s["reason"] == "resolved",
                                                          "turns": len(s["turns"])},
                            duration_ms=_ms(s["active_until"] - s["started"])))
    return events


def _deliveries(rng: random.Random, sessions: list[dict], end: datetime) -> list[tuple[datetime, int, dict]]:
    """Every event up to `end` with the time it reached the landing zone. EventBridge goes through Firehose
    buffers of up to 90 s and does not keep order; the SDK flushes its buffer in order every few seconds to a
    minute. Either way some events land in the next hour's file."""
    deliveries = []
    for s in sessions:
        eventbridge = s["producer"] == "eventbridge"
        flushed = s["started"]
        producer = {"eventbridge": _eventbridge_events, "chat_sdk": _analytics_events, "older_chat_sdk": _plain_events}
        for at, record in producer[s["producer"]](rng, s):
            if at <= end:
                lag = timedelta(seconds=rng.uniform(1, 90) if eventbridge else rng.uniform(0.5, 45))
                delivered = at + lag if eventbridge else max(flushed, at + lag)
                flushed = delivered
                deliveries.append((min(end, delivered), len(deliveries), record))
    deliveries.sort(key=lambda d: (d[0], d[1]))
    return deliveries


def _hourly_files(rng: random.Random, deliveries: list[tuple[datetime, int, dict]]) -> list[dict]:
    """Group events by the hour they were delivered; a third of the files are gzip-compressed."""
    files: dict[datetime, dict] = {}
    for delivered, _, record in deliveries:
        hour = delivered.replace(minute=0, second=0, microsecond=0)
        files.setdefault(hour, {"hour": hour, "records": [], "damaged": {}})["records"].append(record)
    ordered = [files[hour] for hour in sorted(files)]
    for file in ordered:
        file["gzip"] = rng.random() < GZIP_SHARE
    return ordered


def _record_id(record: dict) -> str:
    return record.get("id") or record["event_id"]


def _without_session_id(record: dict) -> dict:
    """A copy of the event whose producer forgot the session id."""
    if "detail" in record:
        return {**record, "detail": {k: v for k, v in record["detail"].items() if k != "session_id"}}
    return {k: v for k, v in record.items() if k != "session_id"}


def _add_mess(rng: random.Random, files: list[dict]) -> None:
    """At-least-once delivery and a sloppy producer: re-delivered events, damaged lines, one event without a session.

    Damaged lines are never a file's first line; duplicates, damage and the missing session id never overlap.
    """
    slots = [(position, n) for position, f in enumerate(files) for n in range(len(f["records"]))]
    if len(slots) < 2:
        return
    used = set()
    lines = [(p, n) for p, n in slots if n > 0]
    for (p, n), kind in zip(rng.sample(lines, min(len(lines), rng.randint(2, 3))), BAD_KINDS):
        files[p]["damaged"][n] = kind
        used.add(_record_id(files[p]["records"][n]))
    questions = [(p, n) for p, n in slots if _record_id(files[p]["records"][n]) not in used
                 and (files[p]["records"][n].get("detail-type") == "Query Processed"
                      or files[p]["records"][n].get("event_type") in ("message_received", "user_message"))]
    if questions:
        p, n = rng.choice(questions)
        files[p]["records"][n] = _without_session_id(files[p]["records"][n])
        used.add(_record_id(files[p]["records"][n]))
    eligible = [(p, n) for p, n in slots if p + 1 < len(files) and _record_id(files[p]["records"][n]) not in used]
    for p, n in rng.sample(eligible, min(len(eligible), max(1, round(DUPLICATE_RATE * len(slots))))):
        record = files[p]["records"][n]
        rng.choice(files[p + 1:p + 7])["records"].append(record)


def _bad_line(record: dict, kind: str) -> str:
    """A line damaged in delivery, no longer valid JSON (the pipeline must quarantine it): cut off mid-record, or
    missing its closing brace."""
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    return text[: len(text) // 2] if kind == "truncated" else text[:-1]


def _file_bytes(file: dict) -> bytes:
    lines = [_bad_line(record, file["damaged"][n]) if n in file["damaged"]
             else json.dumps(record, separators=(",", ":"), ensure_ascii=False)
             for n, record in enumerate(file["records"])]
    data = ("\n".join(lines) + "\n").encode()
    return gzip.compress(data, compresslevel=6, mtime=0) if file["gzip"] else data


def _file_name(file: dict) -> str:
    h = file["hour"]
    return f"{h:%Y/%m/%d}/events-{h:%Y%m%dT%H}.jsonl" + (".gz" if file["gzip"] else "")


def conversations_landing_files(days: int = 14, seed: int = 7, end: datetime | None = None,
                                sessions_per_day: int = 120) -> Iterator[tuple[str, bytes]]:
    """Yield (relative_file_name, file_bytes) for landing/conversations/. Deterministic for given arguments.

    ``sessions_per_day``: ordinary sessions per day on average (0: none; the night-shift sessions come on top)."""
    if sessions_per_day < 0:
        raise ValueError(f"sessions_per_day must be 0 or more, not {sessions_per_day}")
    end = window_end(end)
    start = end - timedelta(days=days)
    rng = random.Random(seed)
    ids: set = set()
    users = _users(rng, sessions_per_day)

    def pick(country: str) -> dict:
        pool = users[country] or [u for group in users.values() for u in group]
        return rng.choices(pool, weights=[u["weight"] for u in pool])[0]

    sessions = [_session(rng, ids, pick(country), started)
                for started, country in _session_starts(rng, start, end, sessions_per_day)]
    sessions += [_session(rng, ids, pick("uk"), started, night=True)
                 for started in _night_shift_starts(rng, start, end)]
    files = _hourly_files(rng, _deliveries(rng, sessions, end))
    _add_mess(rng, files)
    for file in files:
        yield _file_name(file), _file_bytes(file)
