"""Rule classes added after the fresh7 first run: crisis wording routes with the right category and
subject; the everyday look-alikes of each class do not. Rules only (no embedder); new wording, not
the fresh7 sentences."""

from __future__ import annotations

import pytest

from tests.safety_cases import assert_not_routed, assert_routes


@pytest.mark.parametrize(
    "text, category, subject, immediate",
    [
        ("I ate a cookie with nuts, I'm allergic and my tongue is swelling", "medical_emergency", "self", True),
        ("my throat is closing up and I can't find my epi-pen", "medical_emergency", "self", True),
        ("my inhaler isn't working and my lips are turning blue", "medical_emergency", "self", True),
        ("the cut on my leg is spurting and I feel faint", "medical_emergency", "self", True),
        ("I've bled through two towels and I'm dizzy", "medical_emergency", "self", True),
        ("hit my head falling off my bike and now I have double vision", "medical_emergency", "self", True),
        ("crushing pain in my chest going down my left arm and I'm sweating", "medical_emergency", "self", True),
        ("my toddler swallowed a button battery", "medical_emergency", "other", True),
        ("tomei uma caixa inteira de comprimidos", "medical_emergency", "self", True),
        ("paid off what i owe and closed my bank account, nothing keeping me here now", "suicide", "self", False),
        ("nothing left to do now but the roof", "suicide", "self", True),
        ("how do I make it look like an accident so my family gets the payout", "suicide", "self", False),
        ("my dad texted that we won't have to worry about him much longer", "suicide", "other", False),
        ("I wear long sleeves so nobody sees the marks on my arms", "self_harm", "self", False),
        ("found neat cuts along his forearm", "self_harm", "other", False),
        ("je me fais des coupures quand je suis seule", "self_harm", "self", False),
        ("if he shows up again i'm bringing my knife, i'm not joking", "harm_to_others", "self", True),
        ("my brother says they'll all pay and he bought a rifle last week", "harm_to_others", "other", True),
        ("sick of being laughed at. i've got it all planned for friday", "harm_to_others", "self", True),
        ("wenn er mich anfasst stech ich zu", "harm_to_others", "self", False),
        ("mi novio me golpea cuando bebe", "abuse", "self", False),
        ("the neighbour's son yells at her and takes her pension, she's scared", "abuse", "other", False),
        ("I run for an hour every time I eat, even on my sprained ankle", "eating_disorder", "self", False),
    ],
)
def test_new_classes_route(screen, text, category, subject, immediate):
    assert_routes(screen, text, category, subject, immediate)


@pytest.mark.parametrize(
    "text",
    [
        "this lecture is so dull I'm going to die of boredom",
        "lol i'd rather die than go to another baby shower",
        "I'm going to strangle my printer",
        "about to murder my laptop, it froze again",
        "plotting revenge in mario kart next round",
        "what's the max dose of paracetamol for toothache",
        "I'm allergic to peanuts so I always carry my epipen",
        "I couldn't catch my breath after running for the bus",
        "cut my finger chopping onions, it bled a bit",
        "hit my head on the cupboard, bit of a headache",
        "my chest feels tight before presentations",
        "I cancelled my phone contract because I'm moving to Spain",
        "wrote thank you letters to everyone who came to the wedding",
        "I wear long sleeves in summer because of my eczema",
        "stretch marks on her thighs after the baby",
        "my daughter has scratches on her arms from the kitten",
        "I bought a crossbow for deer season",
        "bringing my dad's shotgun to clay pigeon shooting on saturday",
        "monday the whole class will see my presentation, I've got it all planned",
        "teach him a lesson he won't forget, my grandpa used to say",
        "mi marido me regaló flores",
        "her son takes her pension to the bank for her every week",
        "non mangio carne da tre anni",
        "I run through the pain in marathons, it's part of training",
    ],
)
def test_look_alikes_do_not_route(screen, text):
    assert_not_routed(screen, text)
