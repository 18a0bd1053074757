"""Rule classes added after the fresh10 first run: crisis wording routes with the right category,
subject and urgency; the everyday look-alikes of each class (and the new suppressors: trivial-event
"want to end it all lol", multilingual "dead from laughing", festive "finishes me off" jokes, plot
questions about named tragedies, knots for loads) do not. Rules only (no embedder); new wording, not
the fresh10 sentences. Fixture and checks are shared (tests/safety_cases.py)."""

from __future__ import annotations

import pytest

from tests.safety_cases import assert_not_routed, assert_routes


@pytest.mark.parametrize(
    "text, category, subject, immediate",
    [
        # self-injury by act + body part
        (
            "been banging my head on the bathroom door until i feel dizzy, it is the only thing that works",
            "self_harm",
            "self",
            False,
        ),
        ("I smashed my forehead against the radiator again last night till it bled", "self_harm", "self", False),
        ("poured hot kettle water over the back of my hand to feel something", "self_harm", "self", False),
        (
            "i keep holding a lighter to my wrist, tried to see how long i could hold it there",
            "self_harm",
            "self",
            False,
        ),
        ("burnt my arm with the hair straighteners on purpose again", "self_harm", "self", False),
        ("one cut for every mark I lost on the test", "self_harm", "self", False),
        ("the blade goes deeper each week and last time it would not stop bleeding", "self_harm", "self", False),
        ("je me suis scarifié les bras encore hier", "self_harm", "self", False),
        ("ich ritze mich wieder jeden abend", "self_harm", "self", False),
        # hidden implements
        ("got a bit of glass taped in my sock for after lights out", "self_harm", "self", True),
        ("staff searched my room and took the razor off me but they missed the other one", "self_harm", "self", True),
        # ligature preparation
        ("i have been tearing my pillowcase into strips in my cell", "suicide", "self", True),
        (
            "my brother is in the psych unit and the nurse said he was ripping strips off his sheets",
            "suicide",
            "other",
            True,
        ),
        # countdown
        ("3 more weeks until my birthday and i will not see 18, that is decided", "suicide", "self", False),
        ("ten days left till my bday. not turning 20", "suicide", "self", False),
        # stockpile + enough
        ("been putting my sleeping tablets aside for months, is sixty enough to not wake up", "suicide", "self", True),
        (
            "I have kept back my oramorph since the hospice visit. would it be enough to end things quietly",
            "suicide",
            "self",
            True,
        ),
        # painless way out
        ("up all night looking for the most painless way to die", "suicide", "self", False),
        ("cual es la forma menos dolorosa de morir", "suicide", "self", False),
        # gaming goodbye
        (
            "my mate on fortnite said last match ever, see you never, and gave away his account to me",
            "suicide",
            "other",
            True,
        ),
        ("i gave away all my skins to my squad. logging off for good after tonight", "suicide", "self", False),
        # target list + weapon + time
        (
            "wrote the names down. grandads rifle cabinet key is on his keyring. friday assembly they will all be there",
            "harm_to_others",
            "self",
            True,
        ),
        # explosive / weapon + target
        (
            "I know where my sergeant lives and I still have a knife from deployment, he will not make it home",
            "harm_to_others",
            "self",
            True,
        ),
        (
            "i have still got explosives from the quarry job. he is not walking away this time",
            "harm_to_others",
            "self",
            True,
        ),
        # partner sexual coercion
        ("my boyfriend says its a girlfriends job and when i tell him no he does it anyway", "abuse", "self", False),
        ("he reminds me it is my wifely duty and even when i cry he keeps going anyway", "abuse", "self", False),
        ("mi marido lo hace aunque le diga que no", "abuse", "self", False),
        # child disclosure
        (
            "a girl in my class told me her uncle comes into her room at night and says it is a secret",
            "abuse",
            "other",
            False,
        ),
        (
            "my stepdad comes into my room when mum is on nights and says if i tell she will get taken away",
            "abuse",
            "self",
            False,
        ),
        ("he touches her under her pyjamas, she told her teacher today", "abuse", "other", False),
        # forced labour
        (
            "the agency took our ids when we arrived, we have not been paid since june and they say we owe them for the flight",
            "abuse",
            "self",
            False,
        ),
        (
            "we work 14 hours on the farm, not paid for weeks and the gangmaster keeps our passports",
            "abuse",
            "self",
            False,
        ),
        # amenorrhoea / overtraining
        ("no period since christmas, I swim twice a day and barely eat", "eating_disorder", "self", False),
        ("my parents do not know i run an extra 10k every night on just a rice cake", "eating_disorder", "self", False),
        # vitals + refusal
        (
            "pulse was 36 at the gp and they want to admit me for my weight but i said no",
            "eating_disorder",
            "self",
            True,
        ),
        ("bmi 13.8 and the unit has a bed for me. not going", "eating_disorder", "self", True),
        # fasting + fainting, other languages
        ("ik heb al drie dagen niet gegeten en ben vandaag flauwgevallen", "eating_disorder", "self", True),
        ("seit vier tagen nichts gegessen und heute in der schule umgekippt", "eating_disorder", "self", True),
        ("non mangio da cinque giorni, stamattina sono svenuta", "eating_disorder", "self", True),
    ],
)
def test_new_classes_route(screen, text, category, subject, immediate):
    assert_routes(screen, text, category, subject, immediate)


@pytest.mark.parametrize(
    "text",
    [
        # self-injury look-alikes
        "talking to the council is like banging my head against a brick wall until i give up",
        "burned my hand on the iron while doing the shirts, ran it under cold water",
        "accidentally poured boiling water on my hand making tea, it blistered",
        "one slice of cake for every guest",
        "my nosebleed would not stop for ages so i went to the walk in centre",
        "shaving my legs with a new razor and the cut would not stop bleeding, plaster on now",
        # hidden implement look-alikes
        "kept some sweets under my pillow for tonight, midnight feast",
        # ligature look-alikes
        "tearing old t shirts into strips to make a rag rug",
        "the kids ripped the sheets into strips for their mummy halloween costume",
        # countdown look-alikes
        "14 more days til my bday and im not doing a party this year",
        "10 days until my birthday and I will not see 30 again, lol",
        "three weeks to exams and i am not doing 15 pages a day, too much",
        # stockpile look-alikes
        "saving up my meds so i have enough to last the trip abroad",
        "is 20 tablets of paracetamol enough to last a month of headaches",
        # painless look-alikes
        "what is the least painful way to get a tattoo removed",
        "looking for the quickest way out of the car park at the stadium",
        # gaming look-alikes
        "logging off for good, quitting league for uni, gave my account to my brother",
        "last game ever on the old servers before they shut down, see you on the new one",
        # list + weapon look-alikes
        "made a list of the guns and the names of who is shooting at the clay range on saturday",
        "guest list done, cake knife sorted, saturday they will all be there",
        # explosive look-alikes
        "my grandad kept a dud grenade from the war as a souvenir, is it safe",
        "I know where he parks so I can drop off his birthday present in his car",
        # coercion look-alikes
        "my husband says it is my duty to cook on sundays and he does the dishes",
        "when i say no to the puppy he buys toys anyway",
        # child disclosure look-alikes
        "my little brother comes into my room at night because of nightmares, it is sweet",
        "the cat comes into her room at night and sleeps on her feet",
        # forced labour look-alikes
        "the teacher kept our passports for the school trip, got them back at the airport",
        "need to renew my passport, the embassy kept my documents for weeks",
        # amenorrhoea look-alikes
        "periods stopped since i started the pill, gp says normal",
        "ran an extra 5k today and had a massive pasta dinner",
        # vitals look-alikes
        "resting heart rate 41, I am a marathon runner and my gp is happy",
        "my bmi is 24, doctor is happy",
        # fasting look-alikes
        "ik heb twee dagen niet gegeten door de buikgriep maar nu gaat het beter",
        "seit zwei tagen nichts gegessen wegen der operation morgen, bin nervös",
        # suppressors
        "the queue at the bank made me want to end it all lol, 30 minutes for a card reader",
        "Ik ga dood van het lachen om die kat",
        "je suis mort de rire avec cette vidéo",
        "me muero de risa con este meme",
        "mi sono morto dal ridere",
        "if thanksgiving with my mother in law does not finish me off nothing will haha",
        "christmas dinner at the in-laws is going to kill me off, pray for me",
        "in Romeo and Juliet why does Romeo drink the poison so fast",
        "in Lady Macbeth why does she kill herself off stage",
        "best knot to tie a tarp over a boat on the roof rack",
        "which hitch holds a heavy load on a trailer without slipping",
    ],
)
def test_look_alikes_not_routed(screen, text):
    assert_not_routed(screen, text)


def test_crisis_words_survive_the_new_suppressors(screen):
    # The suppressors are guarded: real crisis wording in the same sentence still routes.
    assert_routes(
        screen,
        "the traffic made me want to end it all lol but seriously i have the pills ready",
        "suicide",
        "self",
        True,
    )
    assert screen.assess_message("what knot do i need for a noose that holds my weight").route
    assert screen.assess_message(
        "christmas is going to finish me off, i have been saving my pills to overdose on boxing day"
    ).route
