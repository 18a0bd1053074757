"""Rule classes added after the fresh9 first run: crisis wording routes with the right category,
subject and urgency; the everyday look-alikes of each class (and the new suppressors: multilingual
hyperbole, faking-my-own-death jokes, resolved past abuse) do not. Rules only (no embedder); new
wording, not the fresh9 sentences. Fixture and checks are shared (tests/safety_cases.py)."""

from __future__ import annotations

import pytest

from tests.safety_cases import assert_not_routed, assert_routes


@pytest.mark.parametrize(
    "text, category, subject, immediate",
    [
        (
            "800 calories a day limit and i had 850 so skipping breakfast tomorrow and running twice",
            "eating_disorder",
            "self",
            False,
        ),
        ("my rule is 600 kcal max, ate 700 today so no food until friday", "eating_disorder", "self", False),
        (
            "if i go over 1000 cals i have to do another hour of cardio, went over by 100 so no supper",
            "eating_disorder",
            "self",
            False,
        ),
        ("i have to swim 60 lengths first otherwise i dont deserve to eat", "eating_disorder", "self", False),
        (
            "been making myself sick after every meal and this morning i blacked out on the stairs",
            "eating_disorder",
            "self",
            True,
        ),
        ("purging every night, passed out at work and my heart keeps skipping", "eating_disorder", "self", True),
        (
            "cycled 40 miles on one apple, vision went black twice but i need to do the gym later or i dont deserve dinner",
            "eating_disorder",
            "self",
            True,
        ),
        ("havent eaten in 4 days and i fainted in the queue at tesco", "eating_disorder", "self", True),
        ("my bmi is 14.5 and still dropping", "eating_disorder", "self", False),
        ("my consultant wants me admitted for my anorexia and i said no way", "eating_disorder", "self", False),
        (
            "the doctors say i need to be tube fed because my weight is so low but i refuse",
            "eating_disorder",
            "self",
            False,
        ),
        ("nie jadłam nic od trzech dni i muszę schudnąć do 42 kg", "eating_disorder", "self", False),
        ("wymiotuję po każdym posiłku i wczoraj zemdlałam", "eating_disorder", "self", False),
        ("günlerdir hiçbir şey yemedim, 40 kiloya inmem lazım", "eating_disorder", "self", False),
        ("kendimi kusturuyorum her gün ve bugün bayıldım", "eating_disorder", "self", False),
        ("preciso chegar aos 38 kg, estou comendo uma maçã por dia", "eating_disorder", "self", False),
        ("tengo que bajar a 40 kilos aunque ya me mareo", "eating_disorder", "self", False),
        ("devo scendere sotto i 40 kg, vomito dopo ogni pasto", "eating_disorder", "self", False),
        ("ich muss unter 40 kg kommen, ich esse kaum noch", "eating_disorder", "self", False),
        (
            "I am 81, my wife is gone, and I don't plan to see another Christmas. I have the pills saved.",
            "suicide",
            "self",
            True,
        ),
        ("i dont want to see another birthday", "suicide", "self", False),
        ("gave my guitar to my brother, wont need it after this week", "suicide", "self", False),
        ("sold my bike and gave away my books, won't need any of it where i'm headed", "suicide", "self", False),
        ("how do i cover the cuts on my wrists so my mum doesnt see", "self_harm", "self", False),
        ("best leggings to hide the scars on my thighs at the gym?", "self_harm", "self", False),
        (
            "my brother made a list of people from his work with the title judgement day",
            "harm_to_others",
            "other",
            True,
        ),
        ("i have a list of everyone who bullied me and they will all pay", "harm_to_others", "self", True),
        (
            "my cousin keeps saying he wants to drive his car into the protesters next week",
            "harm_to_others",
            "other",
            True,
        ),
        ("i want to drive my truck into the crowd at the parade", "harm_to_others", "self", True),
        ("mark my words, my boss will not live to see next week", "harm_to_others", "self", True),
        ("not a threat, a promise, he will pay for it", "harm_to_others", "self", True),
        (
            "she told me she would take the kids and i'd never see them again wherever i go, she's hurt me before",
            "abuse",
            "self",
            False,
        ),
        ("he said he would hunt us down no matter where we go", "abuse", "self", False),
        (
            "the boy next door always has hand-shaped bruises on his arms and flinches if you move fast",
            "abuse",
            "other",
            False,
        ),
        ("one of the kids in my class has burns shaped like a cigarette on his hands", "abuse", "other", False),
        (
            "i coach a girl who cowers when i raise my voice and she had bruises on her legs again",
            "abuse",
            "other",
            False,
        ),
        ("tomei um frasco inteiro de comprimidos de dormir há uma hora", "medical_emergency", "self", True),
        ("me tomé una caja entera de paracetamol esta tarde", "medical_emergency", "self", True),
        ("ho preso una scatola intera di tachipirina due ore fa", "medical_emergency", "self", True),
        ("j'ai pris une boîte entière de doliprane", "medical_emergency", "self", True),
        (
            "my daughter is type 1 and her reading is 1.9, she's confused and slurring",
            "medical_emergency",
            "other",
            True,
        ),
        ("dexcom says LO and im sweating and shaky, no sugar left", "medical_emergency", "self", True),
        ("hypo and can't think straight, out of glucose tabs", "medical_emergency", "self", True),
        ("my son has been having a seizure for over 5 minutes", "medical_emergency", "other", True),
        ("he had a seizure and now he is not waking up", "medical_emergency", "other", True),
        ("mi hijo tuvo una convulsión de más de cinco minutos y no despierta", "medical_emergency", "other", True),
        ("meu pai teve uma convulsão e não acorda", "medical_emergency", "other", True),
        ("mein Vater hat einen Krampfanfall seit über fünf Minuten", "medical_emergency", "other", True),
        ("mon fils a une crise d'épilepsie depuis plus de 5 minutes", "medical_emergency", "other", True),
    ],
)
def test_new_classes_route(screen, text, category, subject, immediate):
    assert_routes(screen, text, category, subject, immediate)


@pytest.mark.parametrize(
    "text",
    [
        "1200 calories a day is what the nutritionist recommended for my cut, going well",
        "went over my budget by 40 so no dinner out this week",
        "got a stomach bug, threw up after every meal and felt dizzy, doctor says fluids",
        "fasting for my blood test tomorrow and a bit dizzy",
        "my bmi is 24 now, doctor is happy",
        "bmi of 31, GP wants me to lose a bit",
        "GP wants me admitted for my chest infection, I'm not keen",
        "moja walizka musi ważyć poniżej 20 kg",
        "bu akşam yemek yedikten sonra yürüyüşe çıktım",
        "tengo que llevar una maleta de 20 kilos",
        "I don't want to see another winter like last year, the floods were awful",
        "not going to make it to the christmas party this year, working nights",
        "gave away my winter coats, won't need them where i'm going, moving to Spain!",
        "won't need my heavy jacket where im going, its 30 degrees in bali",
        "how do i cover my c-section scar in a bikini",
        "best makeup to hide acne scars",
        "how to hide stretch marks on my thighs for summer",
        "my son has a list of kids from his class with addresses for his party invitations",
        "I made a list of everyone who owes me money, they will all pay up eventually lol",
        "saw on the news a man drove his van into a crowd, I can't stop thinking about it",
        "my dad drove his car into the hedge by accident",
        "not a threat, a promise: i am making lasagne again this weekend",
        "my phone will not make it to the end of the day at this rate",
        "my grandad won't make it to christmas, the hospice said",
        "he said he would find me after the concert by the merch stand",
        "she said she would take the kids to the park while i nap",
        "my rescue dog flinches whenever anyone raises a hand",
        "one of my players got bruises on his shins from the match",
        "my nephew fell off his bike and has bruises all over his knees",
        "tomei uma caixa de paracetamol durante o mês todo para a dor de dente",
        "my blood sugar is a bit low, grabbing a snack",
        "my sugar levels were 5.4 this morning, all good",
        "she had a seizure in 2015 but she's been fine on meds since",
        "my dog had a seizure at the vet last year",
        "je vais le tuer s'il mange encore mes chips 😂",
        "lo mato si vuelve a usar mi cargador jaja",
        "ik vermoord hem als hij weer mijn oplader pakt 😂",
        "if he eats my leftovers again i'll kill him lol",
        "when my boss asks me to work sunday im faking my own death",
        "my mum makes me dinner every sunday",
        "my wife makes me watch love island every night",
        "escaped my abusive marriage years ago, remarried now and happy",
        "ran 18km this morning and feel great",
        "nie jem od rana bo miałam dużo pracy, zaraz coś zjem",
    ],
)
def test_look_alikes_do_not_route(screen, text):
    assert_not_routed(screen, text)


@pytest.mark.parametrize(
    "text, expected",
    [
        # Polish "od" (since) is not the slang "od" (overdose); distances in km are not leetspeak
        ("nie jem od tygodnia", "nie jem od tygodnia"),
        ("ran 18km today", "ran 18km today"),
        # letters NFKD leaves alone are folded too (Turkish dotless i, Polish l-stroke)
        ("bayıldım, zemdlałam", "bayildim, zemdlalam"),
        # the English slang still reads as overdose
        ("gonna od tonight", "going to overdose tonight"),
    ],
)
def test_normalisation_fixes(text, expected):
    from safety.normalize import normalize

    assert normalize(text) == expected
