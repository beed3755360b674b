from rag.rerank import late_interaction


def test_a_passage_that_answers_scores_above_one_that_does_not(embedder):
    scores = late_interaction(embedder, "Who leads the separatists in Donetsk?", [
        "The weather in Paris was mild this spring, and the cafes were full.",
        "Denis Pushilin, head of the self-proclaimed Donetsk People's Republic, ordered an evacuation.",
    ])
    assert scores.shape == (2,) and scores[1] > scores[0]


def test_a_question_without_tokens_scores_every_passage_alike(embedder):
    scores = late_interaction(embedder, "\u200b", ["One passage.", "Another passage."])
    assert scores.tolist() == [0.0, 0.0]
