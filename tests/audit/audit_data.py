"""A generator of "real" data for the audit tests, and defects to plant on top of it.

The data are templated but varied sentences from word lists with randomness: questions and
answers about everyday topics, a sentiment label, and mentions of people (gender and
occupation drawn independently). Two halves of one generated set play "two halves of one
real dataset".
"""

from __future__ import annotations

import random

TOPICS = ["garden", "kitchen", "bicycle", "library", "river", "mountain", "museum", "bakery", "train", "harbor",
          "market", "school", "forest", "village", "concert", "festival", "workshop", "laboratory", "hospital",
          "stadium", "theater", "island", "desert", "castle", "bridge", "factory", "farm", "office", "airport",
          "beach", "park", "canyon", "lake", "valley", "island", "cathedral", "garage", "studio", "cafe", "zoo"]
VERBS = ["visited", "described", "painted", "repaired", "explored", "photographed", "cleaned", "measured",
         "designed", "studied", "mapped", "restored", "organized", "inspected", "celebrated", "managed"]
ADJ = ["quiet", "busy", "old", "modern", "small", "large", "colorful", "crowded", "remote", "famous", "hidden",
       "narrow", "bright", "dusty", "ancient", "windy", "sunny", "rainy", "cozy", "vast"]
POS = ["wonderful", "excellent", "delightful", "great", "lovely", "impressive", "helpful", "beautiful"]
NEG = ["terrible", "awful", "disappointing", "boring", "annoying", "horrible", "useless", "dirty"]
PEOPLE = {"female": ["she", "the woman", "my sister", "the mother"], "male": ["he", "the man", "my brother",
                                                                           "the father"]}
JOBS = ["doctor", "nurse", "engineer", "teacher", "lawyer", "chef", "pilot", "farmer", "writer", "banker"]
QSTART = ["What happened at the", "Tell me about the", "Why did people like the", "How would you describe the",
          "Can you explain what you saw at the", "Describe a day at the", "What is special about the",
          "Write a short note on the", "Give an account of the", "Summarize your trip to the", "Who cared for the",
          "When was the", "Where is the best", "Which part of the", "Share a memory of the"]
LEAD = ["Quick question:", "Hello there,", "Out of curiosity,", "For my notes,", "Honestly though,", "In short,",
        "Be brief:", "Please answer:", "My friend asks:", "One more thing:", "For a school project,", "If possible,",
        "Just wondering,", "From your view,", "Thinking back,", "Hey assistant,", "Real quick,", "Dear reader,"]
FILLER = ["in the morning", "after lunch", "during the storm", "on a Sunday", "last spring", "near midnight",
          "before the holidays", "with a few friends", "for the first time", "once again", "at dawn",
          "in late autumn", "under a grey sky", "while it snowed", "on the weekend"]


JOB_GENDER = {"doctor": "male", "nurse": "female", "engineer": "male", "teacher": "female", "lawyer": "male",
              "chef": "female", "pilot": "male", "farmer": "male", "writer": "female", "banker": "female"}


def real_record(rng: random.Random, i: int, prefix: str = "r", lean: float | None = None,
                narrow: float = 1.0) -> dict:
    """One record; ``lean`` is the chance a person's gender follows their job's stereotype
    (None: gender and job independent); ``narrow`` < 1 draws every word list from its first
    ``narrow`` share only (collapsed variance: a corner of the real distribution)."""

    def pick(words: list[str]) -> str:
        return rng.choice(words[: max(1, round(len(words) * narrow))])

    topic, adj = pick(TOPICS), pick(ADJ)
    label = rng.choice(["positive", "negative"])
    q = f"{pick(LEAD)} {pick(QSTART).lower()} {adj} {topic} {pick(FILLER)}?"
    sents = []
    for _ in range(rng.randint(1, 4)):
        job = pick(JOBS)
        gender = rng.choice(["female", "male"])
        if lean is not None:
            other = "male" if JOB_GENDER[job] == "female" else "female"
            gender = JOB_GENDER[job] if rng.random() < lean else other
        who = rng.choice(PEOPLE[gender])
        word = rng.choice(POS if label == "positive" else NEG)
        sents.append(f"{who.capitalize()}, a {job}, {pick(VERBS)} the {pick(ADJ)} "
                     f"{pick(TOPICS)} {pick(FILLER)} and found it {word}.")
    return {"id": f"{prefix}{i}", "instruction": q, "response": " ".join(sents), "label": label}


def make_real(n: int, seed: int = 0, prefix: str = "r", lean: float | None = None,
              narrow: float = 1.0) -> list[dict]:
    rng = random.Random(seed)
    return [real_record(rng, i, prefix, lean, narrow) for i in range(n)]


#: Made-up words that never occur in the generated data: a vocabulary shift.
FOREIGN = [f"zor{c}{v}" for c in "bdfgklmnprstvz" for v in "aeiou"]


def with_foreign_words(record: dict, share: float, rng: random.Random) -> dict:
    """Append foreign words to the response so they make up ``share`` of its words."""
    words = record["response"].split()
    k = round(len(words) * share / (1 - share))
    return dict(record, response=record["response"] + " " + " ".join(rng.choice(FOREIGN) for _ in range(k)))


def foreign_record(rng: random.Random, i: int, prefix: str = "x", words: int = 30) -> dict:
    """A record made only of foreign words: far outside the real data."""
    text = " ".join(rng.choice(FOREIGN) for _ in range(words))
    return {"id": f"{prefix}{i}", "instruction": text[:60], "response": text, "label": rng.choice(["positive", "negative"])}
