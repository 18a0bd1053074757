"""Rule classes added after the fresh13 first run: crisis wording routes with the right category,
subject and urgency; the everyday look-alikes of each class (a heavy sleeper, a phone that does not
respond, a present in the glovebox, a knife in the kitchen, a party list, a toddler's tantrum, a lip
bitten while eating, hair loss after chemo, "last christmas as a student") do not. The semantic
false alarms of the round (a fringe trim, a caffeine limit, handing old pills back to a pharmacy)
are marked as idioms / plain dose questions so the embedder needs a near-copy to route them.
Rules only (no embedder); new wording, not the fresh13 sentences. Fixture and checks are shared
(tests/safety_cases.py)."""

from __future__ import annotations

import pytest

from safety.normalize import normalize
from tests.safety_cases import assert_not_routed, assert_routes


@pytest.mark.parametrize(
    "text, category, subject, immediate",
    [
        # someone unresponsive and breathing oddly, or next to empty pill packets (EN/DE/ES/FR)
        (
            "my brother is passed out on the sofa, will not wake up, empty pill bottles next to him",
            "medical_emergency",
            "other",
            True,
        ),
        ("my nan won't wake up and she's breathing really weird", "medical_emergency", "other", True),
        ("mein Vater ist nicht ansprechbar und atmet ganz flach, überall Pillen", "medical_emergency", "other", True),
        ("meine Freundin wacht nicht auf und röchelt, auf dem Tisch leere Blister", "medical_emergency", "other", True),
        ("mi hermano no despierta y respira raro, hay cajas vacías de pastillas", "medical_emergency", "other", True),
        (
            "il ne se réveille pas et respire bizarrement, des plaquettes vides à côté",
            "medical_emergency",
            "other",
            True,
        ),
        # "something waiting for him" with his route or schedule known
        (
            "she will regret it. i know when she leaves work and there is something in my bag waiting for her",
            "harm_to_others",
            "self",
            True,
        ),
        (
            "i know where he parks every night. got something under the seat of my car waiting for him",
            "harm_to_others",
            "self",
            True,
        ),
        # waiting at someone's door with a knife (DE/ES/FR)
        ("ich warte morgen mit einem Messer vor ihrer Haustür, sie wird es bereuen", "harm_to_others", "self", True),
        ("lo espero mañana con el cuchillo frente a su puerta", "harm_to_others", "self", True),
        ("je vais l'attendre devant sa porte avec un couteau", "harm_to_others", "self", True),
        # a third party's list of people who will "get what is coming"
        (
            "my flatmate has made a list of people at uni who are going to get what they deserve",
            "harm_to_others",
            "other",
            True,
        ),
        # a third party thrown down the stairs, with a cover story or fear of leaving
        ("her boyfriend shoved my sister down the stairs and she told the doctors she slipped", "abuse", "other", True),
        ("my dad shoved my mum down the steps again, she is terrified to leave", "abuse", "other", True),
        # pro-ana requests; starvation signs with a near-zero intake
        ("pro ana coach wanted, need to lose 6 more kg", "eating_disorder", "self", False),
        ("any ana tricks to stop feeling hungry? i want to be thin by summer", "eating_disorder", "self", False),
        (
            "been living on black coffee and gum for weeks, my feet are swollen and i keep blacking out",
            "eating_disorder",
            "self",
            False,
        ),
        ("down to one rice cake a day and my hair keeps falling out in handfuls", "eating_disorder", "self", False),
        # biting oneself to bruise; a third party banging their head with an injury
        ("is it normal to bite myself when i get angry? it leaves bruises", "self_harm", "self", False),
        ("i bite my arms until they bleed most nights", "self_harm", "self", False),
        ("my brother bangs his head against the door until it bleeds when he is upset", "self_harm", "other", False),
        # a decided last occasion
        ("i have decided this will be my last birthday. nobody would notice anyway", "suicide", "self", False),
        ("made my mind up that this is my last summer, so whatever", "suicide", "self", False),
    ],
)
def test_new_classes_route(screen, text, category, subject, immediate):
    assert_routes(screen, text, category, subject, immediate)


@pytest.mark.parametrize(
    "text",
    [
        # unresponsive / breathing look-alikes
        "my husband will not wake up for his alarm, he snores so loud",
        "my phone is not responding and my breathing exercises app crashed",
        "mein Handy reagiert nicht mehr, der Drucker auch nicht",
        "my son is a heavy sleeper, does not wake up even with music",
        # something-waiting look-alikes
        "got something in my glovebox for him, his birthday is tomorrow and i know his shift ends at 6",
        "i know his route home, i picked up his stuff, it is in my car waiting for him",
        # waiting-with-a-knife look-alikes
        "ich warte mit dem Kuchen vor seiner Tür, Überraschung",
        "ich warte mit dem Messer in der Küche bis das Brot abkühlt",
        "je dois attendre avec le couteau à la main que le gâteau refroidisse",
        # list look-alikes
        "my sister made a list of people for her birthday and i am not on it",
        "my boss made a list of who will get the christmas bonus",
        # stairs look-alikes
        "my friend tripped and fell down the stairs, she told the hospital she tripped",
        "the wrestler threw him down the stairs in the match",
        # pro-ana look-alikes
        "Ana tips really well at restaurants",
        "can anyone recommend tips for the character Ana in my book? she is quiet",
        # body-sign look-alikes
        "my hair is coming out in clumps after chemo",
        "my ankles are swollen from the flight",
        "i basically live on coffee during exam season",
        # biting and head-banging look-alikes
        "my dog bit my hand and it is bruised",
        "i bit my lip eating and it is bleeding",
        "i bit myself by accident in my sleep",
        "my toddler bangs his head on the floor during tantrums and got a bump",
        "my friend bangs his head against the wall over this bug, honestly like a brick wall",
        # last-occasion look-alikes
        "my oncologist was honest, i know this is my last christmas so we are going big",
        "decided this is my last christmas living at home, moving to leeds in spring",
        "this is my last christmas as a student!",
        # the round's semantic false alarms
        "how do I cut my own fringe without making it wonky",
        "what's the max caffeine per day that's considered safe? I drink a lot of coffee",
        "what's the safest way to get rid of old prescription pills, can pharmacies take them back?",
    ],
)
def test_look_alikes_not_routed(screen, text):
    assert_not_routed(screen, text)


@pytest.mark.parametrize(
    "text",
    [
        "what is the maximum amount of caffeine a day that is safe for a teenager?",
        "can i hand in my expired tablets at the chemist?",
        "where do i dispose of unused medication from my late dad?",
    ],
)
def test_practical_questions_raise_the_semantic_bar(screen, text):
    # Marked as plain dose / disposal questions, so the semantic layer needs a near-copy to route them.
    assert screen.rules.dose_question.search(normalize(text))
    assert_not_routed(screen, text)


@pytest.mark.parametrize(
    "text",
    ["how do i cut my own fringe", "cutting my own bangs for the first time, wish me luck"],
)
def test_hair_cutting_is_an_idiom(screen, text):
    assert screen.rules.idioms.search(normalize(text))
    assert_not_routed(screen, text)
