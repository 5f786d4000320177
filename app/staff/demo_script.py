"""Made-up but realistic calls for demo data: who called, what was said, what the agent did.

Pure and deterministic: the same random generator state gives the same calls.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

NAMES = (
    "Maria Garcia",
    "James Smith",
    "Linda Nguyen",
    "Robert Johnson",
    "Aisha Khan",
    "David Kim",
    "Emily Chen",
    "Michael Brown",
    "Sofia Rossi",
    "Daniel O'Connor",
    "Priya Patel",
    "Kevin Walsh",
    "Grace Lee",
    "Thomas Murphy",
    "Fatima Ali",
    "Carlos Mendes",
    "Hannah Schultz",
    "Omar Haddad",
    "Julia Santos",
    "Patrick Doyle",
    "Mei Wong",
    "Samuel Adeyemi",
    "Laura Martinez",
    "Noah Cohen",
    "Chloe Dubois",
    "Ethan Park",
    "Olivia Brennan",
    "Lucas Silva",
    "Zoe Campbell",
    "Ravi Shah",
)
PLACES = (
    ("Somerville", "MA"),
    ("Cambridge", "MA"),
    ("Boston", "MA"),
    ("Medford", "MA"),
    ("Arlington", "MA"),
    ("Malden", "MA"),
    ("Everett", "MA"),
    ("Brookline", "MA"),
    ("Nashua", "NH"),
    ("Providence", "RI"),
)
AREA_CODES = ("617", "857", "781", "339", "978", "508")

OPENERS = (
    "Hi, I'd like to book a {service} please.",
    "Hello, do you have anything for a {service} {day}?",
    "Hi there, I need to make an appointment, a {service} if possible.",
)
INFO_QUESTIONS = (
    (
        "Are you open on Saturday?",
        "Yes, on Saturdays we're open from nine in the morning until one.",
    ),
    (
        "Where can I park?",
        "There's free parking in the lot behind the building; the entrance is on Cedar Street.",
    ),
    (
        "Do you take Delta Dental?",
        "Yes, we're in network with Delta Dental, Cigna, MetLife and Aetna PPO plans.",
    ),
    ("What time do you close today?", "Today we're open until five in the afternoon."),
    (
        "Do you accept new patients?",
        "New patients are very welcome. Please come fifteen minutes early with a photo ID and your insurance card.",
    ),
    (
        "Can I pay with my HSA card?",
        "Yes, we take HSA and FSA cards as well as all major credit cards.",
    ),
    (
        "How much notice do you need to cancel?",
        "We ask for at least twenty-four hours' notice to cancel or move an appointment.",
    ),
    (
        "Are you open on the Friday after Thanksgiving?",
        "We're closed that Thursday and Friday for Thanksgiving, and open again on Saturday.",
    ),
)
MESSAGES = (
    ("Please call me back about my invoice, I think I was charged twice.", "normal"),
    ("My crown came loose this morning and it hurts when I chew.", "urgent"),
    ("I need a copy of my X-rays sent to my new orthodontist.", "low"),
    ("Calling about my daughter's appointment next week, we need to move it.", "normal"),
    ("I had a filling yesterday and the swelling is getting worse.", "urgent"),
    ("Could Dr. Okafor call me about the treatment plan? I have some questions.", "normal"),
    ("Please send me a receipt for my insurance, by email if possible.", "low"),
    ("I think I left my glasses in the waiting room on Tuesday.", "low"),
)
SMALL_TALK = (
    ("caller", "Sorry, could you repeat that?"),
    ("agent", "Of course. Is there anything else I can help you with?"),
    ("caller", "Hang on, let me check my calendar."),
    ("agent", "Take your time."),
    ("caller", "And is there parking nearby?"),
    ("agent", "Yes, free parking behind the building, the entrance is on Cedar Street."),
    ("caller", "Do I need to bring anything?"),
    ("agent", "Just a photo ID and your insurance card, please."),
    ("caller", "Which bus goes there?"),
    ("agent", "The 87 and 88 buses stop right outside."),
    ("caller", "Do you take Delta Dental?"),
    ("agent", "Yes, we're in network with Delta Dental, Cigna, MetLife and Aetna PPO plans."),
    ("caller", "How early should I arrive?"),
    ("agent", "About ten minutes early is perfect, fifteen if it's your first visit."),
    ("caller", "Can I pay by card?"),
    ("agent", "Yes, all major cards, and HSA or FSA cards too."),
    ("caller", "Is Dr. Okafor there on Fridays?"),
    ("agent", "I can't see the dentists' schedules, but I can take a message for the team."),
    ("caller", "My husband might call as well, is that okay?"),
    ("agent", "Of course, anyone can call us on this number."),
    ("caller", "What if I'm running late?"),
    ("agent", "Just give us a call; we'll do our best to still see you."),
    ("caller", "Sorry, the line is a bit bad, I'm on the train."),
    ("agent", "No problem, I can hear you fine now."),
)
DAYS = ("tomorrow", "on Monday", "on Tuesday", "on Wednesday", "on Thursday", "next week")
TIMES = ("nine", "ten thirty", "eleven", "two", "three thirty", "four")


@dataclass
class Script:
    """One made-up call: its outcome, what was said, the tools called, what it left behind."""

    outcome: str
    caller_name: str
    turns: list[tuple[str, str]] = field(default_factory=list)
    tools: list[tuple[int, str, dict[str, Any], dict[str, Any], bool]] = field(
        default_factory=list
    )  # (after turn index, name, arguments, result, ok)
    message: tuple[str, str] | None = None  # (text, urgency)
    service: str | None = None
    end_reason: str = "caller_hangup"
    transfer: tuple[str, str] | None = None  # (status, dial status)

    def say(self, speaker: str, text: str) -> None:
        self.turns.append((speaker, text))

    def tool(
        self, name: str, arguments: dict[str, Any], result: dict[str, Any], ok: bool = True
    ) -> None:
        self.tools.append((len(self.turns), name, arguments, result, ok))


OUTCOME_WEIGHTS = (
    ("info_provided", 30),
    ("booked", 28),
    ("message_taken", 22),
    ("transferred", 8),
    ("no_resolution", 5),
    ("abandoned", 5),
    ("transfer_failed", 2),
)


def make_script(
    rng: random.Random, business: str, services: list[str], name: str, turns: int
) -> Script:
    """A call of about `turns` turns with a weighted-random outcome."""
    outcome = rng.choices([o for o, _ in OUTCOME_WEIGHTS], [w for _, w in OUTCOME_WEIGHTS])[0]
    script = Script(outcome, name)
    script.say(
        "agent", f"Thanks for calling {business}, this is the virtual receptionist. How can I help?"
    )
    if outcome == "abandoned":
        script.say("caller", rng.choice(("Hello?", "Oh, sorry, wrong number.", "Hi, um")))
        return script
    if outcome == "booked":
        _booking(rng, script, services, name)
    elif outcome == "message_taken":
        _message(rng, script, name)
    elif outcome in ("transferred", "transfer_failed"):
        _transfer(rng, script, name)
    else:
        question, answer = rng.choice(INFO_QUESTIONS)
        script.say("caller", question)
        script.tool("lookup_hours", {}, {"ok": True, "timezone": "America/New_York"})
        script.say("agent", answer)
        if outcome == "no_resolution":
            script.say("caller", "Hmm, that doesn't really answer it. I'll call back later.")
    # Pad to the call's length with exchanges in a random order, each used once while it lasts.
    pairs = list(range(len(SMALL_TALK) // 2))
    rng.shuffle(pairs)
    while len(script.turns) < turns - 2:
        first = pairs[len(script.turns) % len(pairs)] * 2
        script.say(*SMALL_TALK[first])
        script.say(*SMALL_TALK[first + 1])
    script.say(
        "caller", rng.choice(("That's all, thank you.", "Perfect, thanks so much.", "Okay, bye."))
    )
    script.say("agent", "You're welcome. Have a great day, goodbye!")
    script.tool("end_call", {"reason": "caller said goodbye"}, {"ok": True})
    if outcome not in ("transferred", "transfer_failed"):
        script.end_reason = rng.choice(("agent_hangup", "caller_hangup"))
    return script


def _booking(rng: random.Random, script: Script, services: list[str], name: str) -> None:
    service, day, time = rng.choice(services), rng.choice(DAYS), rng.choice(TIMES)
    script.service = service
    script.say("caller", rng.choice(OPENERS).format(service=service.lower(), day=day))
    script.say("agent", f"Let me check what we have {day} for a {service.lower()}.")
    script.tool("check_availability", {"service": service, "date": day}, {"ok": True, "slots": 4})
    script.say("agent", f"I have {time} or a little later. Which works better for you?")
    script.say("caller", f"{time.capitalize()} works. My name is {name}.")
    script.say(
        "agent", f"So that's a {service.lower()} {day} at {time}, for {name}. Shall I book it?"
    )
    script.say("caller", "Yes please.")
    script.tool(
        "book_appointment",
        {"service": service, "customer_name": name, "caller_confirmed": True},
        {"ok": True, "status": "booked"},
    )
    script.say("agent", f"You're booked, {name.split()[0]}. We'll see you {day} at {time}.")


def _message(rng: random.Random, script: Script, name: str) -> None:
    text, urgency = rng.choice(MESSAGES)
    script.message = (text, urgency)
    script.say("caller", f"Hi, this is {name}. {text}")
    script.say(
        "agent",
        "I'm sorry to hear that. I'll take a message so the team can call you back. Is this the best number to reach you?",
    )
    script.say("caller", "Yes, this number is fine.")
    script.tool(
        "take_message",
        {"caller_name": name, "message": text, "urgency": urgency},
        {"ok": True, "status": "saved"},
    )
    script.say(
        "agent", "Thank you, I've passed that on. Someone will call you back as soon as possible."
    )


def _transfer(rng: random.Random, script: Script, name: str) -> None:
    script.say(
        "caller",
        rng.choice(
            (
                "Can I speak to a real person please?",
                "I'd like to talk to someone about my bill.",
                "Is Dr. Okafor available? It's about my results.",
            )
        ),
    )
    script.say("agent", "Of course, let me put you through to the team. One moment please.")
    ok = script.outcome == "transferred"
    script.tool(
        "transfer_to_human",
        {"reason": "caller asked for a person"},
        {"ok": ok, "status": "ringing" if ok else "no_answer"},
        ok,
    )
    if ok:
        script.transfer = ("completed", "completed")
        script.end_reason = "transferred"
    else:
        script.transfer = ("failed", "no-answer")
        script.say(
            "agent",
            "I'm sorry, nobody could pick up right now. Would you like me to take a message?",
        )
        script.say("caller", "No, I'll try again later.")
