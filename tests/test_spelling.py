from rag.lexical import tokenize
from rag.spelling import spellings


def test_variants_fold_to_one_token():
    assert tokenize(["Kiev, Lugansk and Donbass"]) == tokenize(["Kyiv, Luhansk and Donbas"])


def test_questions_are_respelled_one_group_at_a_time():
    assert spellings("What did Moscow say about Kiev?") == [
        "What did Moscow say about Kiev?", "What did Moscow say about Kyiv?"
    ]
    assert spellings("Why does Russia object to NATO expansion?") == ["Why does Russia object to NATO expansion?"]
